"""The target's Debian release: indexes, signatures, packages."""
