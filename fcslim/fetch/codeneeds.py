"""Libraries the installed code opens by a literal name (found by
:mod:`fcslim.elf.dlopen_code`), turned into sonames to fetch.

A name is satisfied when the bundle or the runtime already has a file of that
soname (or, for a stem such as ``find_library("gs")``, any ``libgs.so.N``);
else the profile's Debian release is asked (its Contents index) for the
soname; a name nothing provides is reported, never fatal: code often names
libraries of optional features or other platforms.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from fcslim.debian.archive import DebianRelease
from fcslim.elf.dlopen_code import CodeName, match_stem, scan_code
from fcslim.elf.facts import ElfFile
from fcslim.elf.policy import dlopen_table, installed_distributions


@dataclass
class CodeNeeds:
    wanted: dict[str, tuple[str, ...]] = field(default_factory=dict)  # soname to fetch -> ("code:<dist>", ...)
    found: dict[str, list[str]] = field(default_factory=dict)  # dist -> sonames its code opens
    unresolved: dict[str, list[str]] = field(default_factory=dict)  # dist -> names nothing provides


def _present(files: Iterable[ElfFile], system: frozenset[str]) -> set[str]:
    names = set(system)
    for facts in files:
        names.add(posixpath.basename(facts.path))
        if facts.soname:
            names.add(facts.soname)
    return names


def _debian_soname(release: DebianRelease, name: CodeName) -> str | None:
    contents = release.main.contents
    if name.soname:
        return name.soname if name.soname in contents else None
    return match_stem(name.stem or "", contents.keys())


def code_needs(root: Path, files: Iterable[ElfFile], system: frozenset[str], release: DebianRelease) -> CodeNeeds:
    """What the code of the bundle's distributions opens by name and the
    bundle and runtime lack (distributions the hand-kept table describes are
    taken from the table instead)."""
    table = dlopen_table()["distributions"]
    skip = [d for d in installed_distributions(root) if d in table]
    present = _present(files, system)
    result = CodeNeeds()
    for dist, names in scan_code(root, skip).items():
        for name in names:
            if name.soname and name.soname in present:
                result.found.setdefault(dist, []).append(name.soname)
                continue
            if not name.soname:
                local = match_stem(name.stem or "", present)
                if local:
                    result.found.setdefault(dist, []).append(local)
                    continue
            soname = _debian_soname(release, name)
            if soname is None:
                result.unresolved.setdefault(dist, []).append(f"{name.name} ({name.where})")
                continue
            result.found.setdefault(dist, []).append(soname)
            result.wanted[soname] = tuple(sorted(set(result.wanted.get(soname, ())) | {f"code:{dist}"}))
    for mapping in (result.found, result.unresolved):
        for dist in mapping:
            mapping[dist] = sorted(set(mapping[dist]))
    return result
