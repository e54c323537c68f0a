"""Fetch what the runtime lacks into the bundle."""
