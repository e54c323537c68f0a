"""Maintenance of the whole local cache: what each namespace holds, and cleaning.

``fcslim cache info`` and ``fcslim cache clean`` are thin views of
:func:`usage` and :func:`clean_namespace`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from uv import find_uv_bin  # the uv wheel fcslim depends on

from fcslim.cache.entries import NAMESPACE_FILE, CacheError
from fcslim.cache.fsops import disk_usage
from fcslim.cache.local import LocalCache
from fcslim.cache.location import cache_root
from fcslim.cache.locks import flock
from fcslim.core.files import remove_tree
from fcslim.core.runs import pid_alive


# Namespaces fcslim itself keeps, with what they hold.  ``uv`` is uv's own
# content-addressed wheel/resolution cache (UV_CACHE_DIR points there); ``roots``
# holds the clean debootstrap roots, removed only when asked for by name.
NAMESPACES: dict[str, str] = {
    "uv": "uv's wheel and resolution cache (UV_CACHE_DIR)",
    "debian": "Debian .deb packages and Packages/Contents indexes, keyed by their signed SHA-256",
    "debian-index": "Debian Release files (checked again with gpgv on use) and parsed indexes",
    "resolutions": "pins remembered per input for the bundle-cache key (fcslim/resolve/memo.py)",
    "interpreters": "probes of host interpreters, by path and mtime",
    "results": "results worked out from a tree or a binary, by identity: ELF load checks, size measurements, "
               "uv's and fcslim's own digests, valid profiles (fcslim/cache/results.py)",
    "bundles": "whole bundles for warm rebuilds",
    "deflate": "each file's deflate stream, by content, shared by reports and zips",
    "roots": "clean debootstrap roots for in-target checks",
}
EXPLICIT_ONLY = frozenset({"roots"})


@dataclass(frozen=True)
class NamespaceUsage:
    name: str
    path: Path
    bytes: int
    entries: int | None  # None where fcslim does not count entries (uv, unknown dirs)
    description: str


def usage(root: Path | None = None) -> list[NamespaceUsage]:
    """Size of every namespace under the cache root (known ones always listed)."""
    base = Path(root) if root is not None else cache_root()
    names = list(NAMESPACES)
    if base.is_dir():
        names += sorted(p.name for p in base.iterdir()
                        if p.is_dir() and not p.name.startswith(".") and p.name not in NAMESPACES)
    result = []
    for name in names:
        path = base / name
        if name == "roots":
            count: int | None = len(_root_dirs(path))
        elif (path / NAMESPACE_FILE).exists():
            count = len(LocalCache(name, base).entries())
        else:
            count = None
        result.append(NamespaceUsage(name, path, disk_usage(path), count,
                                     NAMESPACES.get(name, "not an fcslim namespace")))
    return result


def _root_dirs(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return [p for p in sorted(path.iterdir()) if p.is_dir() and (p / ".fcslim-root-complete").exists()]


def clean_namespace(name: str, older_than: float | None = None, root: Path | None = None) -> int:
    """Empty one namespace (entries unused for ``older_than`` seconds, or all).

    ``uv`` is cleaned with ``uv cache clean`` (everything; with ``older_than``,
    ``uv cache prune`` instead, which drops what uv no longer references).
    ``roots`` removes complete debootstrap roots not built within ``older_than``
    and any interrupted builds, skipping roots another process holds.  Other
    directories that are not fcslim namespaces are removed whole, and only when
    ``older_than`` is None.  Returns the bytes freed.
    """
    base = Path(root) if root is not None else cache_root()
    path = base / name
    if not path.exists():
        return 0
    if name == "uv":
        return _clean_uv(path, prune=older_than is not None)
    if name == "roots":
        return _clean_roots(path, older_than)
    if (path / NAMESPACE_FILE).exists():
        return LocalCache(name, base).clean(older_than)
    if older_than is not None:
        return 0
    size = disk_usage(path)
    remove_tree(path)
    return size


def _clean_uv(path: Path, prune: bool) -> int:
    before = disk_usage(path)
    uv = shutil.which("uv")
    if uv is None:
        try:
            uv = find_uv_bin()
        except FileNotFoundError:
            uv = None
    if uv is None:
        if prune:
            return 0
        remove_tree(path)
        return before
    verb = "prune" if prune else "clean"
    proc = subprocess.run([uv, "cache", verb, "--cache-dir", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CacheError(
            f"`uv cache {verb}` on {path} failed: {(proc.stderr or proc.stdout).strip()[-400:]}",
            "Another uv process may be using the cache; try again when it is done.",
        )
    return max(0, before - disk_usage(path))


def _clean_roots(path: Path, older_than: float | None) -> int:
    now = time.time()
    freed = 0
    for entry in sorted(path.iterdir()):
        if not entry.is_dir():
            continue
        marker = entry / ".fcslim-root-complete"
        if ".building-" in entry.name:
            try:
                pid = int(entry.name.rsplit(".building-", 1)[1])
            except ValueError:
                pid = -1
            if pid > 0 and pid_alive(pid):
                continue
        elif marker.exists() and older_than is not None:
            if now - marker.stat().st_mtime < older_than:
                continue
        # rootfs.ensure_root builds and replaces a root under "<root>.lock"
        lock_path = entry.with_name(entry.name.split(".building-")[0] + ".lock")
        with flock(lock_path, blocking=False) as held:
            if not held:
                continue
            size = disk_usage(entry)
            remove_tree(entry)
            freed += size
    return freed

