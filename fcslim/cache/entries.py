"""What one entry of the local store is, and whether it is whole.

An entry is a directory ``<key>/`` holding ``meta.json`` (written last) and
either ``data`` (a file entry) or ``tree/`` (a tree entry with a manifest of
every file's size, SHA-256 and mtime).  The checks here are pure reads: each
answers True (good), None (no entry) or False (an entry that must go).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcslim.cache.fsops import tree_listing
from fcslim.core.errors import EXIT_INTERNAL, FcslimError, LocationError
from fcslim.core.hashing import file_digest_matches, file_sha256

NAMESPACE_FILE = ".fcslim-namespace.json"
META = "meta.json"
DATA = "data"
TREE = "tree"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by fcslim.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


class CacheError(LocationError):
    """The cache directory cannot be used (exit 11: fix FCSLIM_CACHE_DIR)."""


class CacheIntegrityError(FcslimError):
    """Bytes offered to the cache do not match the hash they were stored under.

    Callers that download (Debian packages, indexes) catch this and re-raise it
    in their own family (e.g. a DebianError for a bad .deb checksum).
    """

    exit_code = EXIT_INTERNAL


@dataclass(frozen=True)
class CacheEntry:
    namespace: str
    key: str
    kind: str  # "file" or "tree"
    path: Path  # the file, or the tree's directory
    size: int  # bytes of content (file size, or sum of the tree's file sizes)
    files: int  # 1 for a file entry, else the tree's regular files
    created: float  # epoch seconds
    last_used: float  # epoch seconds of the last get


def read_meta(entry: Path) -> dict[str, Any] | None:
    """The entry's meta.json; None when absent, ``{"corrupt": True}`` when unreadable."""
    try:
        with open(entry / META, "rb") as handle:
            meta = json.load(handle)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {"corrupt": True}
    return meta if isinstance(meta, dict) else {"corrupt": True}


def file_state(entry: Path, expected: str | None, verify: bool = False) -> bool | None:
    """True for a good file entry, None when there is none, False when bad.
    ``verify`` checks the bytes against the SHA-256 recorded in the entry."""
    meta = read_meta(entry)
    if meta is None:
        return None
    if verify and not expected:
        expected = meta.get("sha256") or "missing"
    data = entry / DATA
    if meta.get("kind") != "file" or not data.is_file() or data.is_symlink():
        return False
    try:
        if data.stat().st_size != meta.get("size"):
            return False
        return not expected or file_sha256(data) == expected
    except OSError:
        return False


def tree_state(entry: Path, verify: bool) -> bool | None:
    """Like :func:`file_state` for a tree entry (``verify`` re-hashes every file)."""
    meta = read_meta(entry)
    if meta is None:
        return None
    tree = entry / TREE
    if meta.get("kind") != "tree" or not tree.is_dir() or tree.is_symlink():
        return False
    return tree_matches(tree, meta, verify)


def tree_matches(tree: Path, meta: dict[str, Any], verify: bool) -> bool:
    """Every file present with its recorded size and mtime, nothing extra (and, with ``verify``, its hash)."""
    files: dict[str, list[Any]] = meta.get("files") or {}
    links: dict[str, str] = meta.get("links") or {}
    try:
        listing = tree_listing(tree)
    except OSError:
        return False
    if len(listing) != len(files) + len(links):
        return False
    for rel, found in listing.items():
        if isinstance(found, tuple):
            if links.get(rel) != found[1]:
                return False
        else:
            record = files.get(rel)
            if record is None or record[0] != found[0]:
                return False
            if len(record) > 2 and record[2] != found[1]:
                return False  # written in place since it was cached
    if verify:
        for rel, (size, digest, *_) in files.items():
            try:
                if not file_digest_matches(tree / rel, digest):
                    return False
            except OSError:
                return False
    return True

