"""Shared plumbing: errors, atomic writes and ownership, progress, hashing, data files."""
