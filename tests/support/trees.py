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


def tree_state(top: Path, skip: tuple[str, ...] = ()) -> dict:
    """Everything a run could change under ``top``, without following links:
    per entry its kind, mode and content digest (or link target).  Entries
    under a relative path in ``skip`` are left out."""
    import hashlib

    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(path)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", st.st_mode)
            else:
                with open(path, "rb") as handle:
                    out[rel] = ("file", st.st_mode, hashlib.sha256(handle.read()).hexdigest())
    return out
