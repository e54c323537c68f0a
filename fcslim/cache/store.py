"""The cache every fcslim stage uses: :class:`Cache`, one namespace of it.

A :class:`Cache` is the local store of :mod:`fcslim.cache.local` (entries on
this machine's disk, atomic, verified, locked per key), read through and
written back to a remote store (:mod:`fcslim.cache.remote`) when one is
configured: local first, remote second.  A get that misses locally asks the
remote, verifies every byte and keeps the entry locally; a put stores locally
and then shares the entry.  This module is the public face of the package:
stages import :class:`Cache`, :func:`cache_key` and the errors from here,
whatever backs them.

The remote comes from :func:`configure_remote` (the CLI's ``--cache-url``) or
``$FCSLIM_CACHE_URL`` (``$FCSLIM_CACHE_URL_REQUIRED=1`` for strict mode), as
:mod:`fcslim.cache.remote_config` keeps it.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from fcslim.cache.entries import CacheEntry, CacheError, CacheIntegrityError, read_meta
from fcslim.cache.fsops import STALE_TMP_SECONDS, KnownDigests, directory_size
from fcslim.cache.keys import LAYOUT_VERSION, cache_key
from fcslim.cache.local import LocalCache, TreeManifest
from fcslim.cache.maintenance import EXPLICIT_ONLY, NAMESPACES, NamespaceUsage, clean_namespace, usage
from fcslim.cache.remote import RemoteCacheError, RemoteStore
from fcslim.cache.remote_config import REQUIRED_ENV, URL_ENV, configure_remote, current_remote
from fcslim.cache.treestreams import TreeStreams
from fcslim.core.hashing import file_sha256

__all__ = [
    "Cache", "CacheEntry", "CacheError", "CacheIntegrityError", "EXPLICIT_ONLY", "LAYOUT_VERSION", "NAMESPACES",
    "NamespaceUsage", "RemoteCacheError", "cache_key", "clean_namespace", "configure_remote", "current_remote",
    "directory_size", "file_sha256", "usage", "REQUIRED_ENV", "URL_ENV",
]

class Cache(LocalCache):
    """One namespace of fcslim's cache (see :mod:`fcslim.cache.local` for the guarantees).

    ``kind="blob"``: keys are the SHA-256 of the file bytes (e.g. .deb files
    keyed by the archive's checksum); every put and get checks it.
    ``remote=False`` keeps a namespace on this machine whatever is configured.
    ``streams=True`` (finished bundles): a tree shared through the remote
    carries the deflate streams the build made of its files, and a tree
    brought from the remote leaves them in the local stream store
    (:mod:`fcslim.cache.treestreams`).
    """

    def __init__(self, namespace: str, root: Path | None = None, *, kind: str = "keyed", remote: bool = True,
                 streams: bool = False):
        super().__init__(namespace, root, kind=kind)
        self.use_remote = remote
        self.streams = streams
        self._swept = False

    def _remote(self) -> RemoteStore | None:
        return current_remote() if self.use_remote else None

    def _scratch(self) -> Path:
        """Where transfers stage their files (parts, downloads); what a killed
        transfer left there is removed once a day old."""
        scratch = self.path / ".remote"
        if not self._swept:
            self._swept = True
            cutoff = time.time() - STALE_TMP_SECONDS
            try:
                with os.scandir(scratch) as found:
                    for item in found:
                        if item.is_file(follow_symlinks=False) and item.stat(follow_symlinks=False).st_mtime < cutoff:
                            os.unlink(item.path)
            except OSError:
                pass  # nothing there yet, or not ours to clean: transfers still work
        return scratch

    def get_file(self, key: str, sha256: str | None = None, *, verify: bool = False) -> Path | None:
        found = super().get_file(key, sha256, verify=verify)
        remote = self._remote()
        if found is not None or remote is None:
            return found
        self._prepare()
        scratch = self._scratch()
        scratch.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{key[:16]}.", dir=scratch)
        os.close(fd)
        try:
            ref = remote.fetch_file(self.namespace, key, Path(name))
            if ref is None:
                return None
            try:
                return super().put_file(key, Path(name), sha256 or ref.sha256, move=True)
            except CacheIntegrityError:
                return None  # the remote holds other bytes than the caller expects: a miss
        finally:
            Path(name).unlink(missing_ok=True)

    def get_tree(self, key: str, *, verify: bool = False, remote: bool = True) -> Path | None:
        """The local tree entry, else the remote's brought here (``remote=False``: local only).

        Call it without holding ``lock(key)``: bringing an entry in takes the
        key's lock exclusively, so of two processes restoring the same key one
        downloads and the other waits and finds the entry (a shared hold of
        ours would make that lock shared, and both would publish).
        """
        found = super().get_tree(key, verify=verify)
        store = self._remote() if remote else None
        if found is not None or store is None:
            return found
        ref = store.read_ref(self.namespace, key)
        if ref is None or ref.kind != "tree":
            return None

        def fill(tree: Path) -> TreeManifest:
            keep = TreeStreams(self.root) if self.streams else None
            got = store.fetch_tree(self.namespace, key, tree, ref, self._scratch(), keep)
            if got is None:
                raise _Miss()
            return got

        with self.lock(key):
            found = super().get_tree(key, verify=verify)  # another process may have brought it meanwhile
            if found is not None:
                return found
            try:
                return super().put_tree_with(key, fill, read_only=ref.read_only)
            except _Miss:
                return None

    def put_file(self, key: str, source: Path | bytes | BinaryIO, sha256: str | None = None, *,
                 move: bool = False) -> Path:
        path = super().put_file(key, source, sha256, move=move)
        remote = self._remote()
        if remote is not None:
            meta = read_meta(path.parent) or {}
            remote.upload_file(self.namespace, key, path, str(meta.get("sha256") or file_sha256(path)),
                               path.stat().st_size)
        return path

    def put_tree(self, key: str, source_dir: Path, *, read_only: bool = False, link: bool = False,
                 copy_dirs: frozenset[str] = frozenset(), known_digests: KnownDigests | None = None) -> Path:
        tree = super().put_tree(key, source_dir, read_only=read_only, link=link, copy_dirs=copy_dirs,
                                known_digests=known_digests)
        remote = self._remote()
        if remote is not None:
            with self.lock(key, shared=True):
                remote.upload_tree(self.namespace, key, tree, read_only=read_only, scratch=self._scratch(),
                                   streams=TreeStreams(self.root) if self.streams else None)
        return tree


class _Miss(Exception):
    """The remote had no usable copy: abandon the local entry being filled."""

