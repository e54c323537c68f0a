"""Resolutions remembered for the bundle-cache key, so a warm rebuild of
unchanged input does not run the resolver.

The key of a bundle built from a loose input (not a hashed lock) includes the
pins the resolver chose, so that a new upstream release changes it.  Running
``uv pip compile`` for that costs 1-2.6 s, most of a warm rebuild.  Instead the
pins chosen for the same input (requirements text, profile, index options) are
kept here and reused:

* for as long as the input pins every distribution the resolver chose
  (``name==version`` for each; the bench sets and most deploy files): nothing
  the index publishes later can change that resolution;
* otherwise for :data:`FRESH_SECONDS` (``$FCSLIM_RESOLVE_TTL`` overrides), the
  time a package index's own pages are served from uv's HTTP cache (PyPI sends
  ``max-age=600``), so the resolver itself would not have seen a newer release
  either; after that, the input is resolved again.

What is remembered, and keyed, is the resolution's canonical pins
(:func:`canonical_pins`: ``name==version`` lines, names normalised, sorted),
whether they came from the resolver or from the distributions an install put
into the tree.  So an input this cache has never resolved (no memo record at
all) needs no resolver run before its build: no bundle built through this cache
can be keyed on it, and the build's own install says what it resolved to
(:func:`never_resolved`, used by :mod:`fcslim.build_key`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from fcslim.cache.keys import cache_key
from fcslim.cache.location import cache_subdir
from fcslim.core.errors import FcslimError
from fcslim.core.files import atomic_write

NAMESPACE = "resolutions"
FRESH_SECONDS = 600.0


def memo_key(*parts: object) -> str:
    return cache_key("resolution", *parts)


def _path(key: str) -> Path:
    return cache_subdir(NAMESPACE) / f"{key}.json"


def _fresh_seconds() -> float:
    try:
        return float(os.environ.get("FCSLIM_RESOLVE_TTL", FRESH_SECONDS))
    except ValueError:
        return FRESH_SECONDS


def canonical_pins(pairs: Iterable[tuple[str, str]]) -> str:
    """The one text a resolution is keyed and remembered by: ``name==version``
    per distribution (normalised name), sorted.  The resolver's output and an
    installed tree give the same text for the same resolution."""
    return "".join(sorted({f"{canonicalize_name(name)}=={_normal_version(version)}\n" for name, version in pairs}))


def _normal_version(version: str) -> str:
    """PEP 440's normal form (``1.0-rc1`` → ``1.0rc1``), as a resolver writes
    it; a version PEP 440 cannot read is kept as it is."""
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def canonical_resolver_pins(text: str) -> str:
    """:func:`canonical_pins` of a resolver's output (``uv pip compile``)."""
    # Only when resolving: the lock formats' readers are start-up a warm
    # rebuild does not need (python -X importtime).
    from fcslim.resolve.lockfile import parse_pins

    return canonical_pins((p.name, p.version) for p in parse_pins(text))


def never_resolved(key: str) -> bool:
    """Whether this cache holds no resolution at all for ``key`` (a lapsed one
    still counts as held: a bundle may be keyed on it)."""
    return not _path(key).exists()


def remembered_pins(key: str) -> str | None:
    """The pins kept for ``key`` while they still hold (module docstring)."""
    try:
        record = json.loads(_path(key).read_text())
        pins, closed, at = str(record["pins"]), bool(record["closed"]), float(record["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if closed or time.time() - at < _fresh_seconds():
        return pins
    return None


def remember_pins(key: str, pins: str, requirements: Iterable[str]) -> None:
    """Keep ``pins`` resolved for ``key`` (``requirements``: the input's lines)."""
    record = {"pins": pins, "closed": pins_are_closed(requirements, pins), "at": time.time()}
    try:
        atomic_write(_path(key), json.dumps(record), role="resolution memo", durable=False)
    except FcslimError:
        pass  # not remembered: the next run resolves again


def pins_are_closed(requirements: Iterable[str], pins: str) -> bool:
    """Whether the input pins every distribution of the resolution (``pins``,
    ``name==version`` lines) exactly."""
    pinned = {}
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            return False
        specs = list(req.specifier)
        if req.url or len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            return False
        pinned[canonicalize_name(req.name)] = specs[0]
    resolved = [line.split("#", 1)[0].strip().split("==", 1) for line in pins.splitlines()]
    resolved = [pair for pair in resolved if len(pair) == 2]
    against = [(pinned.get(canonicalize_name(name)), version) for name, version in resolved]
    return bool(against) and all(spec is not None and spec.contains(version, prereleases=True)
                                 for spec, version in against)
