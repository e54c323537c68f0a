"""Warm rebuilds: a whole finished bundle, cached under the key of its inputs.

An unchanged build should cost a hash check.  The build computes
:func:`bundle_key` from everything that decides the bundle's bytes, asks
:func:`restore_bundle` for it before resolving, and on a miss builds as usual
and hands the finished tree to :func:`store_bundle`.

What goes into the key:

* the requirements text (comment-only and blank lines dropped, line ends and
  surrounding whitespace normalised).  For a lock with hashes this pins every
  byte that will be installed; ``-r``/``-c`` includes must be passed already
  inlined, since the key sees only this text;
* ``resolved_pins``: for input that is *not* fully pinned with hashes, the
  pins it resolved to (:func:`fcslim.resolve.memo.canonical_pins`: from the
  resolver, or from the install of a first build), so a new upstream release
  changes the key.  A warm rebuild of unpinned input therefore costs one
  (remembered) resolution on top of the restore;
* the runtime profile (``Profile.to_dict()``), the options that change the
  output (slim on/off, fetch, compile, mirror…; not the output path or
  verbosity), a digest of the slim rule set, and fcslim's version (always,
  through :func:`fcslim.cache.store.cache_key`).

How a bundle is stored and restored: by **hard links** (the finished
staging tree's files become the cache's, and a restore links them out again)
when the cache and the output share a filesystem, else by copying.  Storing the
data set by links took 0.1 s where copying (and hashing) took 0.95 s in a
profiled cold build.  Measured on this
project's CI disk for the data set (282 MB, 6,121 files): hard links 0.11 s;
``shutil.copytree`` 0.85–3.9 s and ``cp -a`` 4–5.7 s under the load of other
jobs, because 282 MB of writes are throttled by dirty-page writeback.  Copying
cannot keep the promised 0.1x of a cold build (let alone < 1 s) on a busy
disk; linking can.  The cost is that the output's files *are* the cache's
files, so:

* cached files are stored read-only (write bits removed), so an editor or tool
  run by a normal user cannot write through a link into the cache;
* every restore stats every cached file against the manifest's size and mtime
  (a write in place changes at least the mtime), so an entry corrupted through a
  link, e.g. by root, who ignores permissions, is discarded and the bundle is
  rebuilt cold instead of restored wrong;
* the records directory ``.fcslim/`` is always copied, never linked: it is
  what later steps (report, pack) are most likely to rewrite.

Anyone post-processing a restored bundle must replace files (write a new file
and rename it over) rather than rewrite them in place; :func:`restore_bundle`
with ``link=False`` gives a private copy for callers that cannot promise that.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcslim.cache.fsops import KnownDigests
from fcslim.cache.keys import bundle_key, normalise_requirements  # noqa: F401  (this module's API; kept light for keys)
from fcslim.cache.store import Cache

NAMESPACE = "bundles"
RECORDS_DIR = ".fcslim"


def bundle_cache(root: Path | None = None) -> Cache:
    return Cache(NAMESPACE, root, streams=True)  # shared bundles carry their deflate streams


@dataclass(frozen=True)
class RestoreStats:
    files: int = 0
    linked: int = 0
    copied: int = 0
    symlinks: int = 0
    bytes: int = 0


def restore_bundle(key: str, dest: Path, *, link: bool = True, root: Path | None = None) -> bool:
    """Recreate the cached bundle ``key`` at ``dest``; False on a miss.

    ``dest`` must not exist or be an empty directory (e.g. the staging
    directory of :func:`fcslim.core.output.atomic_directory`).  Files are hard-linked
    from the cache when ``link`` and the filesystem allow it, else copied; the
    ``.fcslim/`` records are always copied.  A cached entry that fails its
    size/mtime check is discarded and reported as a miss.  On a miss or an
    error ``dest`` is left empty (or absent).
    """
    return restore_bundle_stats(key, dest, link=link, root=root) is not None


def restore_bundle_stats(key: str, dest: Path, *, link: bool = True,
                         root: Path | None = None) -> RestoreStats | None:
    """:func:`restore_bundle`, returning what it did (None on a miss)."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"restore destination {dest} is not an empty directory")
    cache = bundle_cache(root)
    for remote in (False, True):
        if remote and cache.get_tree(key) is None:  # brought from the remote under the key's exclusive lock
            return None
        with cache.lock(key, shared=True):  # a concurrent clean waits until we are done
            tree = cache.get_tree(key, remote=False)
            if tree is not None:
                return _link_out(tree, dest, link)
    return None


def _link_out(tree: Path, dest: Path, link: bool) -> RestoreStats:
    created = not dest.exists()
    counter = _Counter(link)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        _restore_dir(tree, dest, counter, under_records=False)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in list(dest.iterdir()):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink()
        raise
    return RestoreStats(files=counter.linked + counter.copied, linked=counter.linked, copied=counter.copied,
                        symlinks=counter.symlinks, bytes=counter.bytes)


def store_bundle(key: str, src: Path, *, root: Path | None = None,
                 known_digests: KnownDigests | None = None) -> Path:
    """Cache the finished bundle at ``src`` under ``key`` (read-only files).

    ``src`` stays the user's output: its files are hard-linked into the cache
    where the filesystem allows (so they become read-only too; the records in
    ``.fcslim/`` are copied), else copied.  The manifest takes the digests of
    files ``known_digests`` knows (measuring hashed them) and hashes the
    others.  Returns the cached tree.
    """
    return bundle_cache(root).put_tree(key, Path(src), read_only=True, link=True,
                                       copy_dirs=frozenset({RECORDS_DIR}), known_digests=known_digests)


class _Counter:
    def __init__(self, link: bool):
        self.link = link
        self.linked = 0
        self.copied = 0
        self.symlinks = 0
        self.bytes = 0


def _restore_dir(src: Path, dst: Path, counter: _Counter, under_records: bool, top: bool = True) -> None:
    with os.scandir(src) as it:
        items = list(it)
    for item in items:
        target = os.path.join(dst, item.name)
        if item.is_symlink():
            os.symlink(os.readlink(item.path), target)
            counter.symlinks += 1
        elif item.is_dir():
            os.mkdir(target)
            records = under_records or (top and item.name == RECORDS_DIR)
            _restore_dir(Path(item.path), Path(target), counter, records, top=False)
        else:
            size = item.stat().st_size
            counter.bytes += size
            if counter.link and not under_records:
                try:
                    os.link(item.path, target)
                    counter.linked += 1
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                        raise
                    counter.link = False  # another filesystem (or no links): copy the rest
            shutil.copyfile(item.path, target)
            os.chmod(target, (item.stat().st_mode & 0o777) | 0o200)  # the copy is the caller's: writable
            counter.copied += 1
    shutil.copymode(src, dst)
