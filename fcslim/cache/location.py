"""The root of fcslim's on-disk caches."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fcslim.core.errors import LocationError
from fcslim.core.files import host_errors


def cache_root() -> Path:
    """``$FCSLIM_CACHE_DIR``, else the user cache directory (macOS or XDG; the
    cache's locks are POSIX ``fcntl`` locks, so there is no Windows location)."""
    explicit = os.environ.get("FCSLIM_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "fcslim"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fcslim"


def cache_subdir(*parts: str) -> Path:
    """A subdirectory of the cache root, created on demand; a root that is a
    file, read-only or not writable is a :class:`LocationError` (exit 11)."""
    root = cache_root()
    path = root.joinpath(*parts)
    check_cache_root(root)
    with host_errors(path, _role()):
        path.mkdir(parents=True, exist_ok=True)
    return path


def _role() -> str:
    return "cache directory" + (" (FCSLIM_CACHE_DIR)" if os.environ.get("FCSLIM_CACHE_DIR") else "")


def check_cache_root(root: Path) -> None:
    """Refuse a cache root that exists but is not a directory (exit 11)."""
    if root.exists() and not root.is_dir():
        raise LocationError(f"The {_role()} {root} is a file, not a directory.",
                            "Point FCSLIM_CACHE_DIR at a directory (it is created when missing), or unset it.")
