"""Comparing directory trees in tests."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(top: Path) -> dict:
    """Every entry under ``top``: links by target, directories, and files by
    bytes and whether any execute bit is set."""
    out = {}
    for p in sorted(Path(top).rglob("*")):
        rel = p.relative_to(top).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = (p.read_bytes(), bool(p.stat().st_mode & 0o111))
    return out
