"""Can every ELF file of a tree load on the target?  The answer
(:class:`LoadFindings`: sonames nothing provides, files that can never load)
remembered by the tree's identity.

The analysis (:func:`fcslim.elf.graph.analyse`) opens every file for its magic
bytes, reads every ELF file and resolves every need: with lief (before fcslim
read ELF itself) it was 0.9 s of a 2.1 s warm install stage on the data set,
and most of the rest of it is still the file walk.  Its
answer depends only on the tree's files (:func:`fcslim.core.treeid.tree_identity`:
paths, links and file identities; uv hard-links a warm install out of its cache,
so an unchanged install has the same identities), the profile and fcslim's own
code and data (:func:`fcslim.cache.codeid.own_code_digest`).  An unchanged tree
is analysed once; any changed, added, removed or renamed file, another profile
or another fcslim is a new analysis.  Entries live in the ``results`` cache,
where a corrupted one is a miss (:mod:`fcslim.cache.results`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fcslim.cache.codeid import own_code_digest
from fcslim.cache.keys import cache_key
from fcslim.cache.results import recall, remember
from fcslim.core.treeid import tree_identity
from fcslim.elf.findings import LoadProblem, MissingLibrary
from fcslim.target.profile import Profile

KIND = "elf-load-check"
SCHEMA = 1


@dataclass(frozen=True)
class LoadFindings:
    missing: list[MissingLibrary]
    unloadable: list[LoadProblem]
    remembered: bool = False  # served from the results cache


def _key(root: Path, profile: Profile, identity: str | None) -> str | None:
    try:
        identity = identity or tree_identity(root)
    except OSError:
        return None  # the analysis itself reports what it cannot read
    return cache_key(KIND, SCHEMA, identity, profile.to_dict(), own_code_digest())


def _decode(doc: object) -> LoadFindings | None:
    if not isinstance(doc, dict):
        return None
    try:
        missing = [MissingLibrary(str(m["soname"]), tuple(str(n) for n in m["needed_by"])) for m in doc["missing"]]
        unloadable = [LoadProblem(str(p["path"]), str(p["kind"]), str(p["detail"])) for p in doc["unloadable"]]
    except (KeyError, TypeError):
        return None
    return LoadFindings(missing, unloadable, remembered=True)


def load_findings(root: str | os.PathLike, profile: Profile, *, identity: str | None = None) -> LoadFindings:
    """What :func:`fcslim.elf.graph.analyse` finds in ``root`` for ``profile``:
    remembered for an unchanged tree, analysed (and remembered) otherwise.
    ``identity``: the tree's :func:`~fcslim.core.treeid.tree_identity`, when
    the caller has it (it is worked out otherwise)."""
    root = Path(root)
    key = _key(root, profile, identity)
    found = _decode(recall(KIND, key)) if key else None
    if found is not None:
        return found
    # The ELF reader and resolver cost ~0.01 s to import (python -X importtime): only on a miss.
    from fcslim.elf.graph import analyse

    report = analyse(root, profile)
    if key:
        remember(KIND, key, {
            "missing": [{"soname": m.soname, "needed_by": list(m.needed_by)} for m in report.missing],
            "unloadable": [{"path": p.path, "kind": p.kind, "detail": p.detail} for p in report.unloadable],
        })
    return LoadFindings(list(report.missing), list(report.unloadable))
