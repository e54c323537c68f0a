"""The cache every fcslim stage uses: :class:`Cache`, one namespace of it.

A :class:`Cache` is the local store of :mod:`fcslim.cache.local` (entries on
this machine's disk, atomic, verified, locked per key).  This module is the
public face of the package: stages import :class:`Cache`, :func:`cache_key` and
the errors from here, whatever backs them.
"""

from __future__ import annotations

from fcslim.cache.entries import CacheEntry, CacheError, CacheIntegrityError
from fcslim.cache.fsops import directory_size
from fcslim.cache.keys import LAYOUT_VERSION, cache_key
from fcslim.cache.local import LocalCache
from fcslim.cache.maintenance import EXPLICIT_ONLY, NAMESPACES, NamespaceUsage, clean_namespace, usage
from fcslim.core.hashing import file_sha256

__all__ = [
    "Cache", "CacheEntry", "CacheError", "CacheIntegrityError", "EXPLICIT_ONLY", "LAYOUT_VERSION", "NAMESPACES",
    "NamespaceUsage", "cache_key", "clean_namespace", "directory_size", "file_sha256", "usage",
]


class Cache(LocalCache):
    """One namespace of fcslim's cache (see :mod:`fcslim.cache.local` for the guarantees).

    ``kind="blob"``: keys are the SHA-256 of the file bytes (e.g. .deb files
    keyed by the archive's checksum); every put and get checks it.
    """
