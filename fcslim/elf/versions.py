"""Symbol versions against what provides them: GLIBC_x.y newer than the
profile's glibc is ``glibc-too-new``; GLIBCXX_/CXXABI_/GCC_ versions newer
than the image's libstdc++/libgcc_s, or a version a bundled provider does not
define, is ``symbol-version-too-new``."""

from __future__ import annotations

import re
from typing import Iterator

from fcslim.elf.facts import ElfFile
from fcslim.elf.findings import LoadProblem
from fcslim.elf.policy import SystemImage
from fcslim.elf.resolver import Resolver
from fcslim.target.profile import Profile

VERSION_RE = re.compile(r"^(GLIBC|GLIBCXX|CXXABI|GCC)_(\d+(?:\.\d+)*)$")


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def too_new(version: str, profile: Profile, image: SystemImage) -> tuple[str, str] | None:
    """(kind, limit) when a system-provided version is newer than the target's."""
    match = VERSION_RE.match(version)
    if not match:
        return None  # GLIBC_PRIVATE, CXXABI_TM_1, CXXABI_FLOAT128 ...
    family, number = match.group(1), version_tuple(match.group(2))
    if family == "GLIBC":
        if number[:2] > profile.glibc or (number[:2] == profile.glibc and len(number) > 2 and number[2] > 0):
            return "glibc-too-new", f"GLIBC_{profile.glibc_version}"
        return None
    limit = {"GLIBCXX": image.glibcxx_max, "CXXABI": image.cxxabi_max, "GCC": image.gcc_max}[family]
    if not limit:
        return None
    limit_match = VERSION_RE.match(limit)
    if limit_match and number > version_tuple(limit_match.group(2)):
        return "symbol-version-too-new", limit
    return None


def version_problems(facts: ElfFile, resolved: dict[tuple[str, str], str], resolver: Resolver, profile: Profile,
                     image: SystemImage) -> Iterator[LoadProblem]:
    for library, versions in facts.version_needs:
        provider = resolved.get((facts.path, library))
        if provider is None:
            continue  # missing: reported once as missing
        if provider == "system":
            worst: dict[str, list[str]] = {}
            limits: dict[str, str] = {}
            for version in versions:
                verdict = too_new(version, profile, image)
                if verdict:
                    worst.setdefault(verdict[0], []).append(version)
                    limits[verdict[0]] = verdict[1]
            for kind, bad in worst.items():
                bad = sorted(bad, key=lambda v: version_tuple(VERSION_RE.match(v).group(2)))
                where = (f"glibc {profile.glibc_version}" if kind == "glibc-too-new"
                         else f"{library} of {image.name} (newest {limits[kind]})")
                yield LoadProblem(
                    facts.path, kind,
                    f"needs {', '.join(bad)} from {library}; {profile.name} has {where}",
                )
        else:
            target = resolver.by_path[provider.split(":", 1)[1]]
            if not target.version_defs:
                continue  # an unversioned library satisfies any version (ld.so only checks defined ones)
            absent = [v for v in versions if v not in target.version_defs]
            if absent:
                yield LoadProblem(
                    facts.path, "symbol-version-too-new",
                    f"needs {', '.join(absent)} from {library}, but the bundled {target.path} does not define "
                    f"{'it' if len(absent) == 1 else 'them'}",
                )


