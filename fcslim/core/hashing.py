"""SHA-256 of files, read in blocks (the one helper every stage shares)."""

from __future__ import annotations

import hashlib
import os

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
