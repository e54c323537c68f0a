"""Digests of files, read in blocks (the one helper every stage shares)."""

from __future__ import annotations

import hashlib
import os

from blake3 import blake3

_BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path``."""
    return file_sha256_and_size(path)[0]


def file_sha256_and_size(path: str | os.PathLike) -> tuple[str, int]:
    """Hex SHA-256 and byte count of the file at ``path``, in one read."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


BLAKE3_PREFIX = "blake3:"


def file_blake3(path: str | os.PathLike) -> str:
    """``blake3:<hex>`` of the file at ``path``: four times SHA-256's speed
    here, for manifests of trees linked rather than copied (nothing else
    reads those files, so nothing else could hash them on the way)."""
    digest = blake3()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return BLAKE3_PREFIX + digest.hexdigest()


def file_digest_matches(path: str | os.PathLike, recorded: str) -> bool:
    """Whether the file's content has the ``recorded`` digest (SHA-256 hex, or
    ``blake3:<hex>``)."""
    if recorded.startswith(BLAKE3_PREFIX):
        return file_blake3(path) == recorded
    return file_sha256(path) == recorded
