"""Cache keys: a SHA-256 of a canonical JSON of what decides an entry's content.

:func:`cache_key` mixes in fcslim's version and the store's layout version, so
an upgrade never reads entries an older fcslim wrote.  :func:`check_key` is the
one rule for the names entries may have (they become file and object names).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, is_dataclass
from pathlib import PurePath
from typing import Any

from fcslim import __version__

LAYOUT_VERSION = 1
KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
TMP_MARK = ".tmp-"
OLD_MARK = ".old-"


def check_key(key: str, blob: bool = False, namespace: str = "") -> None:
    """Refuse a key that is not a safe entry name (or, for a blob namespace, not a SHA-256)."""
    if not isinstance(key, str) or not KEY_RE.match(key) or TMP_MARK in key or OLD_MARK in key:
        raise ValueError(f"bad cache key {key!r}: use cache_key(...) or [A-Za-z0-9_.+-], up to 200 chars")
    if blob and not HEX64_RE.match(key):
        raise ValueError(f"blob cache {namespace!r} needs a lowercase SHA-256 hex key, not {key!r}")


def canonical(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (bytes, bytearray)):
        return {"bytes-sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if is_dataclass(value) and not isinstance(value, type):
        return canonical(asdict(value))
    if hasattr(value, "to_dict"):
        return canonical(value.to_dict())
    raise TypeError(f"cache_key cannot canonicalise a {type(value).__name__}: {value!r}")


def cache_key(*parts: Any) -> str:
    """SHA-256 hex of a canonical JSON of ``parts`` and fcslim's version.

    Parts may be JSON scalars, lists/tuples, dicts (key order does not matter),
    sets (order does not matter), paths (as posix strings), bytes (by their
    SHA-256), dataclasses and objects with ``to_dict()`` (e.g. a Profile).
    """
    document = {"fcslim": __version__, "layout": LAYOUT_VERSION, "parts": canonical(list(parts))}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_requirements(text: str) -> str:
    """The requirements text as the key sees it: comments-only/blank lines out."""
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lines.append(" ".join(line.split()))
    return "\n".join(lines)


def bundle_key(
    requirements_text: str,
    resolved_pins: str | None,
    profile_dict: dict[str, Any],
    options: dict[str, Any],
    rules_digest: str,
) -> str:
    """The cache key of the bundle these inputs build (see :mod:`fcslim.cache.bundles`;
    here, apart from the bundle cache, so a build computes its key without importing it)."""
    return cache_key(
        "bundle",
        normalise_requirements(requirements_text),
        None if resolved_pins is None else normalise_requirements(resolved_pins),
        profile_dict,
        options,
        rules_digest,
    )
