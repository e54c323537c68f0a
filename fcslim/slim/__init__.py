"""Slim a bundle without breaking an import."""
