"""Runtime profiles: what the target machine is."""
