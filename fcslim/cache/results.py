"""Results remembered by key: small JSON documents computed from a tree (its
ELF load check, its size measurement) or from fcslim's own files, so that an
unchanged input is not worked out again.

Each entry is one file, ``results/<kind>/<key>.json``: a first line with the
BLAKE3 digest of the rest, then the JSON document.  An entry that is missing,
cut short, altered (its digest does not match) or not JSON is a miss: it is
removed and the caller computes the result again and writes it back, so a
corrupted entry never lasts.  Writes are atomic (a temporary file renamed
over); a cache that cannot be written only costs the next run the work.

Keys are :func:`fcslim.cache.keys.cache_key` digests of everything the result
depends on, fcslim's own code and data included
(:func:`fcslim.cache.codeid.own_code_digest`).  An entry unused for
:data:`KEEP_DAYS` is dropped when another of its kind is written; a hit
refreshes its age.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from blake3 import blake3

from fcslim.cache.keys import check_key
from fcslim.cache.location import cache_subdir
from fcslim.core.errors import FcslimError
from fcslim.core.files import atomic_write

NAMESPACE = "results"
KEEP_DAYS = 30
_PRUNE_EVERY = 50  # writes of a kind between two sweeps of its old entries (on average)


def _path(kind: str, key: str) -> Path:
    check_key(kind)
    check_key(key)
    return cache_subdir(NAMESPACE, kind) / f"{key}.json"


def recall(kind: str, key: str) -> Any | None:
    """The document remembered under ``key``, or None (a miss)."""
    try:
        path = _path(kind, key)
        raw = path.read_bytes()
    except (OSError, FcslimError):
        return None
    head, sep, body = raw.partition(b"\n")
    try:
        if not sep or head.decode("ascii") != blake3(body).hexdigest():
            raise ValueError("digest mismatch")
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        path.unlink(missing_ok=True)  # corrupted: a miss, and gone
        return None
    try:
        os.utime(path)  # its age is its last use
    except OSError:
        pass
    return document


def remember(kind: str, key: str, document: Any) -> None:
    """Keep ``document`` (JSON data) under ``key``; failures are ignored."""
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    try:
        path = _path(kind, key)
        atomic_write(path, blake3(body).hexdigest().encode("ascii") + b"\n" + body, role="result cache entry",
                     durable=False)
    except (OSError, FcslimError):
        return
    if sum(key.encode()) % _PRUNE_EVERY == 0:
        _prune(path.parent)


def _prune(directory: Path) -> None:
    cutoff = time.time() - KEEP_DAYS * 86400
    try:
        with os.scandir(directory) as scan:
            for entry in scan:
                if entry.name.endswith(".json") and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
    except OSError:
        pass
