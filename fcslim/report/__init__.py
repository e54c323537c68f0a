"""Where every byte went, against the runtime's limits."""
