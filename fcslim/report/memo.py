"""A bundle's measurement remembered by the tree's identity.

Measuring lists every file, attributes it to its distribution and looks up
(or computes) its deflated size: 0.1-0.5 s on the data set, most of a warm
rebuild and a tenth of the install stage.  The result depends only on the
tree's files (:func:`fcslim.core.treeid.tree_identity`: paths and file
identities), the records that attribute them (``.fcslim/install.json`` and
``libraries.json``, by their bytes), the zip layout, the deflate codec and
fcslim's own code (:func:`fcslim.cache.codeid.own_code_digest`).  An unchanged
tree (a warm install hard-linked out of uv's cache, a bundle restored by links)
is measured once; any changed, added, removed or renamed file, another record,
codec or fcslim is another key.  Entries live in the ``results`` cache
(:mod:`fcslim.cache.results`), where a corrupted one is a miss.

Limits and the slim summary are not remembered: they are worked out from the
profile and options of each run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blake3 import blake3

from fcslim.cache.codeid import own_code_digest
from fcslim.cache.keys import cache_key
from fcslim.cache.results import recall, remember
from fcslim.core.records import LIBRARIES, RECORDS_DIR, INSTALL
from fcslim.core.treeid import tree_identity
from fcslim.pack.deflate import codec
from fcslim.pack.tree import SkippedLink
from fcslim.report.model import DistributionSize, FileSize, LibrarySize, Totals

KIND = "size-report"
SCHEMA = 1


@dataclass
class Measured:
    """What measuring a tree found (everything of a report but the run's
    profile, limits and slim summary)."""

    files: list[FileSize]
    totals: Totals
    zip_bytes: int
    categories: dict[str, Totals]
    distributions: list[DistributionSize]
    libraries: list[LibrarySize]
    skipped_links: list[SkippedLink]


def measurement_key(root: Path, layout: str, identity: str | None = None) -> str | None:
    """The key of ``root``'s measurement, or None when the tree cannot be
    listed (measuring then says why).  ``identity``: the tree's, when the
    caller has it."""
    try:
        identity = identity or tree_identity(root)
        records = []
        for name in (INSTALL, LIBRARIES):
            try:
                records.append(blake3((root / RECORDS_DIR / name).read_bytes()).hexdigest())
            except FileNotFoundError:
                records.append(None)
    except OSError:
        return None
    return cache_key(KIND, SCHEMA, identity, records, layout, codec(), own_code_digest())


def _totals(t: Totals) -> list[int]:
    return [t.files, t.bytes, t.deflated]


def _encode(m: Measured) -> dict[str, Any]:
    return {
        "files": [[f.path, f.bytes, f.deflated, f.distribution, f.category] for f in m.files],
        "totals": _totals(m.totals),
        "zip_bytes": m.zip_bytes,
        "categories": {name: _totals(t) for name, t in m.categories.items()},
        "distributions": [[d.name, d.version, d.kind, _totals(Totals(d.files, d.bytes, d.deflated)),
                           {c: _totals(t) for c, t in d.categories.items()}] for d in m.distributions],
        "libraries": [[lib.soname, lib.path, lib.package, lib.version, lib.bytes, lib.deflated]
                      for lib in m.libraries],
        "skipped_links": [[s.path, s.target, s.reason] for s in m.skipped_links],
    }


def _decode(doc: dict[str, Any]) -> Measured:
    dists = []
    for name, version, kind, (files, size, deflated), categories in doc["distributions"]:
        dists.append(DistributionSize(name, version, kind, files, size, deflated,
                                      {c: Totals(*t) for c, t in categories.items()}))
    return Measured(
        files=[FileSize(*row) for row in doc["files"]],
        totals=Totals(*doc["totals"]),
        zip_bytes=int(doc["zip_bytes"]),
        categories={name: Totals(*t) for name, t in doc["categories"].items()},
        distributions=dists,
        libraries=[LibrarySize(*row) for row in doc["libraries"]],
        skipped_links=[SkippedLink(*row) for row in doc["skipped_links"]],
    )


def recall_measurement(key: str) -> Measured | None:
    doc = recall(KIND, key)
    if not isinstance(doc, dict):
        return None
    try:
        return _decode(doc)
    except (KeyError, TypeError, ValueError):  # a document of another shape: a miss
        return None


def remember_measurement(key: str, measured: Measured) -> None:
    remember(KIND, key, _encode(measured))
