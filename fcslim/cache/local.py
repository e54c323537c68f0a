"""The local store: one namespace of entries on this machine's disk.

One namespace (``debian``, ``slim``, ``bundles``…) is a directory under
:func:`fcslim.cache.location.cache_root`.  An entry is named by a key, normally
:func:`fcslim.cache.keys.cache_key` of everything that changes its content, and
holds either one file or one directory tree::

    <root>/<namespace>/<key[:2]>/<key>/meta.json   what it is, sizes, hashes
    <root>/<namespace>/<key[:2]>/<key>/data        a file entry, or
    <root>/<namespace>/<key[:2]>/<key>/tree/       a tree entry
    <root>/<namespace>/.locks/<key>.lock           per-key flock

Guarantees:

* **No torn entries.**  An entry is assembled in ``<key>.tmp-<pid>-<nonce>``
  beside its final place (``meta.json`` written last) and becomes visible only
  by one ``rename``.  A writer killed at any point leaves only a ``.tmp-``
  directory, which lookups never see and :meth:`LocalCache.clean` (and the
  next write to that shard) removes once its process is gone.
* **Bytes match keys.**  In a ``kind="blob"`` namespace the key *is* the SHA-256
  of the file, checked on every put and get.  In a keyed namespace a caller
  that knows the expected hash passes ``sha256=``; a tree entry's manifest
  records every file's size and SHA-256, checked by size on every get and in
  full with ``verify=True``.  An entry that fails a check is discarded and the
  lookup reports a miss, so the caller refetches or rebuilds.
* **Shared safely.**  :meth:`LocalCache.lock` is an ``fcntl.flock`` per key
  (exclusive, or shared for readers), re-entrant within a process.  Puts take it
  exclusively; :meth:`LocalCache.clean` skips entries someone holds.  Readers
  that use an entry's path after a get should hold ``lock(key, shared=True)`` so
  a concurrent clean cannot remove it underneath them.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from fcslim import __version__
from fcslim.cache.entries import (
    CACHEDIR_TAG, DATA, META, NAMESPACE_FILE, TREE, CacheError, CacheIntegrityError, file_state, tree_state,
)
from fcslim.cache.fsops import (
    KnownDigests, copy_tree_with_manifest, disk_usage, leftover_is_stale, make_read_only, write_data,
    write_json_durably,
)
from fcslim.cache.keys import KEY_RE, LAYOUT_VERSION, OLD_MARK, TMP_MARK, check_key
from fcslim.cache.location import cache_root, check_cache_root
from fcslim.core.files import atomic_write, move, remove_tree, replace_directory
from fcslim.cache.inventory import LocalInventory
from fcslim.cache.locks import exclusive_within, flock

TreeManifest = tuple[dict[str, list[Any]], dict[str, str]]


class LocalCache(LocalInventory):
    """One namespace of the store.  See the module docstring for guarantees.

    ``kind="blob"``: keys are the SHA-256 of the file bytes (e.g. .deb files
    keyed by the archive's checksum); every put and get checks it.
    """

    def __init__(self, namespace: str, root: Path | None = None, *, kind: str = "keyed"):
        if not KEY_RE.match(namespace) or "." in namespace:
            raise ValueError(f"bad cache namespace {namespace!r}")
        if kind not in ("keyed", "blob"):
            raise ValueError(f"cache kind must be 'keyed' or 'blob', not {kind!r}")
        self.namespace = namespace
        self.kind = kind
        self.root = Path(root) if root is not None else cache_root()
        self.path = self.root / namespace
        self._prepared = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.namespace!r}, root={str(self.root)!r}, kind={self.kind!r})"

    # -- layout

    def _prepare(self) -> None:
        if self._prepared:
            return
        check_cache_root(self.root)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tag = self.root / "CACHEDIR.TAG"
            if not tag.exists():
                atomic_write(tag, CACHEDIR_TAG, role="cache tag", durable=False)
            marker = self.path / NAMESPACE_FILE
            if not marker.exists():
                atomic_write(marker, json.dumps({"layout": LAYOUT_VERSION, "kind": self.kind}) + "\n",
                             role="cache marker")
        except OSError as exc:
            raise CacheError(
                f"The fcslim cache directory {self.path} cannot be written ({exc.strerror or exc}).",
                "Point FCSLIM_CACHE_DIR at a writable directory, or fix its permissions.",
            ) from exc
        self._prepared = True

    def _check_key(self, key: str) -> None:
        check_key(key, self.kind == "blob", self.namespace)

    def entry_dir(self, key: str) -> Path:
        self._check_key(key)
        return self.path / key[:2] / key

    def lock_path(self, key: str) -> Path:
        """The file whose flock guards ``key``."""
        return self.path / ".locks" / f"{key}.lock"

    # -- locking

    @contextmanager
    def lock(self, key: str, *, shared: bool = False) -> Iterator[None]:
        """Hold the key's flock (exclusive, or shared for readers) for the block."""
        self._check_key(key)
        self._prepare()
        with flock(self.lock_path(key), shared=shared):
            yield

    # -- reading

    def _touch(self, entry: Path) -> None:
        try:
            os.utime(entry / META)
        except OSError:
            pass  # a read-only shared cache still serves hits

    def get_file(self, key: str, sha256: str | None = None, *, verify: bool = False) -> Path | None:
        """The path of a complete file entry, or None.

        With ``sha256`` (always, in a blob namespace) the bytes are hashed and an
        entry that does not match is discarded and reported as a miss.
        ``verify=True`` checks them against the SHA-256 recorded when the entry
        was stored (entries that have no outside hash, e.g. parsed indexes).
        """
        expected = sha256.lower() if sha256 else (key if self.kind == "blob" else None)
        entry = self.entry_dir(key)
        if not self._confirmed(key, lambda: file_state(entry, expected, verify)):
            return None
        self._touch(entry)
        return entry / DATA

    def _confirmed(self, key: str, check: Callable[[], bool | None]) -> bool:
        """Run ``check``; an entry that looks bad is judged again under the
        key's lock before it is discarded, because a writer may have been
        swapping it in between our reads of its metadata and its data."""
        state = check()
        if state:
            return True
        if state is None:
            return False
        with self.lock(key):
            state = check()
            if state:
                return True
            if state is False:
                self.discard(key)
        return False

    def get_tree(self, key: str, *, verify: bool = False) -> Path | None:
        """The directory of a complete tree entry, or None.

        Every file's presence, size and mtime are checked against the manifest
        (and nothing extra may be there): a cheap stat walk that catches torn or
        edited entries, including writes through hard links handed out by
        :mod:`fcslim.cache.bundles`.  ``verify=True`` also re-hashes every file.
        An entry that fails is discarded and reported as a miss.
        """
        entry = self.entry_dir(key)
        if not self._confirmed(key, lambda: tree_state(entry, verify)):
            return None
        self._touch(entry)
        return entry / TREE

    # -- writing

    def _staging(self, key: str) -> Path:
        shard = self.path / key[:2]
        shard.mkdir(parents=True, exist_ok=True)
        self._sweep_shard(shard)
        staging = shard / f"{key}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        return staging

    def _sweep_shard(self, shard: Path) -> int:
        freed = 0
        now = time.time()
        try:
            names = os.listdir(shard)
        except FileNotFoundError:
            return 0
        for name in names:
            if TMP_MARK in name or OLD_MARK in name:
                path = shard / name
                if leftover_is_stale(name, path, now):
                    freed += disk_usage(path)
                    remove_tree(path)
        return freed

    def _publish(self, key: str, staging: Path) -> Path:
        """Rename a finished staging directory into place (caller holds the lock)."""
        final = self.entry_dir(key)
        old = final.with_name(f"{key}{OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        replace_directory(staging, final, old)
        remove_tree(old)
        return final

    def put_file(
        self,
        key: str,
        source: Path | bytes | BinaryIO,
        sha256: str | None = None,
        *,
        move: bool = False,
    ) -> Path:
        """Store one file atomically and return its cached path.

        ``source`` is a path, bytes or a readable binary stream.  The bytes are
        written to a temporary file, fsynced, hashed and checked against
        ``sha256`` (and, in a blob namespace, the key) before the entry is
        renamed into place; a mismatch raises :class:`CacheIntegrityError` and
        stores nothing.  ``move=True`` renames a source path in instead of
        copying it when it is on the same filesystem.
        """
        self._check_key(key)
        self._prepare()
        expected = sha256.lower() if sha256 else None
        if self.kind == "blob":
            if expected and expected != key:
                raise ValueError(f"blob key {key} and sha256 {expected} differ")
            expected = key
        with self.lock(key):
            staging = self._staging(key)
            try:
                data = staging / DATA
                digest, size = write_data(source, data, move)
                if expected and digest != expected:
                    raise CacheIntegrityError(
                        f"Bytes offered for cache entry {self.namespace}/{key} have SHA-256 {digest}, "
                        f"expected {expected}; nothing was stored.",
                        "The download was corrupted or the expected hash is wrong; fetch it again.",
                    )
                meta = {
                    "layout": LAYOUT_VERSION, "kind": "file", "key": key, "size": size,
                    "sha256": digest, "created": time.time(), "fcslim": __version__,
                }
                write_json_durably(staging / META, meta)
                final = self._publish(key, staging)
            except BaseException:
                remove_tree(staging)
                raise
        return final / DATA

    def put_tree(self, key: str, source_dir: Path, *, read_only: bool = False, link: bool = False,
                 copy_dirs: frozenset[str] = frozenset(), known_digests: KnownDigests | None = None) -> Path:
        """Copy a directory tree into the cache atomically; return the cached tree.

        The copy keeps symlinks as symlinks and file modes; a manifest of every
        file's size and digest is written last, then the entry is renamed into
        place.  ``read_only=True`` strips write bits from the cached files so
        hard links handed out to callers cannot be edited by accident.
        ``link=True`` hard-links files instead of copying them where the
        filesystem allows (not under the top-level ``copy_dirs``): the source's
        files then become the cache's, read-only with ``read_only``.
        ``known_digests`` gives the digests of files already hashed.
        """
        source_dir = Path(source_dir)
        if not source_dir.is_dir():
            raise NotADirectoryError(source_dir)
        return self.put_tree_with(key, lambda tree: copy_tree_with_manifest(source_dir, tree, link=link,
                                                                            copy_dirs=copy_dirs,
                                                                            known_digests=known_digests),
                                  read_only=read_only)

    def put_tree_with(self, key: str, fill: Callable[[Path], TreeManifest], *, read_only: bool = False) -> Path:
        """Like :meth:`put_tree`, with ``fill(tree)`` creating the new directory
        ``tree`` and returning its manifest ``({rel: [size, sha256, mtime_ns]},
        {rel: link target})`` (e.g. an extraction from the remote store)."""
        self._check_key(key)
        self._prepare()
        with self.lock(key):
            staging = self._staging(key)
            try:
                tree = staging / TREE
                files, links = fill(tree)
                if read_only:
                    make_read_only(tree, files)
                meta = {
                    "layout": LAYOUT_VERSION, "kind": "tree", "key": key,
                    "size": sum(record[0] for record in files.values()), "file_count": len(files),
                    "created": time.time(), "fcslim": __version__, "read_only": read_only,
                    "files": files, "links": links,
                }
                write_json_durably(staging / META, meta)
                final = self._publish(key, staging)
            except BaseException:
                remove_tree(staging)
                raise
        return final / TREE

    def discard(self, key: str) -> bool:
        """Remove an entry (under its lock).  True if there was one."""
        entry = self.entry_dir(key)
        if not (entry.exists() or entry.is_symlink()):
            return False
        with exclusive_within(self.lock_path(key)):
            if not (entry.exists() or entry.is_symlink()):
                return False
            aside = entry.with_name(f"{key}{OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}")
            move(entry, aside, role="cache entry")
            remove_tree(aside)
        return True
