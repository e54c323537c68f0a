"""Resolve and install for the target: requirements, locks, uv."""
