"""Deterministic artifacts, the split loader and hand-off snippets."""
