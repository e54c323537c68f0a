"""The "no wheel fits" diagnosis, from what the index offers.

When uv finds no wheel for the target, fcslim reads the index itself and names
the versions seen, the tags tried, why the nearest version does not fit (wrong
Python, glibc too old, another architecture, only an sdist) and what to do.
The same judgement (does a version have a wheel this profile can load?) serves
the glibc 2.24/2.26 compensation in :mod:`fcslim.resolve.glibc`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from fcslim.core.errors import NoCompatibleWheelError
from fcslim.target.profile import Profile, builtin_profiles

if TYPE_CHECKING:  # the index client itself is not needed to check an install (start-up)
    from fcslim.resolve.index import IndexFile



def tags_tried_summary(profile: Profile) -> str:
    """``cp310/abi3/py3 on manylinux_2_28..2_5 x86_64`` for a profile."""
    interpreters = [profile.abi, "abi3", f"py{profile.python[0]}"]
    return (f"{'/'.join(interpreters)} on manylinux_{profile.glibc[0]}_{profile.glibc[1]}..2_5 "
            f"{profile.arch} (and pure py*-none-any)")


def python_admits(requires_python: str | None, profile: Profile) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(profile.python_full_version, prereleases=True)
    except InvalidSpecifier:
        return True


def wheel_fits(tags: Iterable[Tag], profile: Profile) -> bool:
    return any(t in profile.tag_set for t in tags)


def _glibc_of(platform: str) -> tuple[str, tuple[int, int]] | None:
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    match = re.match(r"^manylinux_(\d+)_(\d+)_(.+)$", platform)
    if match:
        return match.group(3), (int(match.group(1)), int(match.group(2)))
    for alias, version in legacy.items():
        if platform.startswith(alias + "_"):
            return platform[len(alias) + 1:], version
    return None


@dataclass
class VersionFiles:
    version: Version
    wheels: list[tuple[IndexFile, frozenset[Tag]]] = field(default_factory=list)
    sdists: list[IndexFile] = field(default_factory=list)


def group_by_version(files: Iterable[IndexFile]) -> list[VersionFiles]:
    groups: dict[Version, VersionFiles] = {}
    for f in files:
        if f.yanked:
            continue
        try:
            if f.is_wheel:
                _n, version, _b, tags = parse_wheel_filename(f.filename)
                groups.setdefault(version, VersionFiles(version)).wheels.append((f, frozenset(tags)))
            else:
                _n, version = parse_sdist_filename(f.filename)
                groups.setdefault(version, VersionFiles(version)).sdists.append(f)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
    return sorted(groups.values(), key=lambda g: g.version, reverse=True)


def version_fits(group: VersionFiles, profile: Profile) -> bool:
    return any(wheel_fits(tags, profile) and python_admits(f.requires_python, profile)
               for f, tags in group.wheels)


def _why_not(group: VersionFiles, profile: Profile, name: str) -> str:
    """Why the wheels of one version do not fit, naming the nearest ones."""
    v = f"{name} {group.version}"
    python_ok = [(f, t) for f, t in group.wheels if python_admits(f.requires_python, profile)]
    if group.wheels and not python_ok:
        rp = group.wheels[0][0].requires_python
        return f"{v} requires Python {rp}; {profile.name} has {profile.python_full_version}"
    if not group.wheels:
        if group.sdists and not python_admits(group.sdists[0].requires_python, profile):
            return f"{v} requires Python {group.sdists[0].requires_python}; {profile.name} has {profile.python_full_version}"
        return f"{v} has only an sdist ({group.sdists[0].filename})" if group.sdists else f"{v} has no files"
    interp_ok = {(t.interpreter, t.abi) for t in profile.tags}
    right_python = [(f, t) for f, t in python_ok if any((x.interpreter, x.abi) in interp_ok for x in t)]
    if right_python:
        platforms = sorted({x.platform for _f, t in right_python for x in t})
        same_arch = [p for p in platforms if (g := _glibc_of(p)) and g[0] == profile.arch]
        if same_arch:
            newest_needed = min(_glibc_of(p)[1] for p in same_arch)  # type: ignore[index]
            families = ", ".join(sorted({p.rsplit("_" + profile.arch, 1)[0] for p in same_arch}))
            if newest_needed > profile.glibc:
                return (f"{v} has only {families} wheels for {profile.arch} "
                        f"(glibc {newest_needed[0]}.{newest_needed[1]} or newer); "
                        f"{profile.name} has glibc {profile.glibc_version}")
        return f"{v} has {profile.abi}-compatible wheels only for {', '.join(platforms[:6])}; {profile.name} is linux {profile.arch}"
    interpreters = sorted({x.interpreter for _f, t in python_ok for x in t})
    return (f"{v} has wheels only for {', '.join(interpreters[:8])}; "
            f"{profile.name} is CPython {profile.python_version} ({profile.abi})")


def diagnose_no_wheel(name: str, profile: Profile, files: Sequence[IndexFile], *,
                      wanted: SpecifierSet | None = None, where: str | None = None,
                      unreadable: Sequence[str] = (), uv_platform: str | None = None,
                      allow_pure_sdist: bool = False) -> NoCompatibleWheelError:
    """The error for a distribution with no wheel the target accepts."""
    groups = group_by_version(files)
    required = f" (required at {where})" if where else ""
    head = (f"No wheel of {name}{required} fits {profile.name} (CPython {profile.python_full_version}, "
            f"{profile.arch}, glibc {profile.glibc_version}).")
    tried = f"Tags tried: {tags_tried_summary(profile)}."
    if not groups:
        seen = f"No files for {name} were found on {', '.join(unreadable) or 'the index'}" if unreadable else \
            f"The index lists no files for {name}"
        return NoCompatibleWheelError(f"{head} {seen}. {tried}",
                                      "Check the name and the index options, then run again.")
    versions = f"{len(groups)} (" + ", ".join(str(g.version) for g in groups[:10]) + (", …)" if len(groups) > 10 else ")")
    in_range = [g for g in groups if wanted is None or wanted.contains(g.version, prereleases=True)]
    focus = in_range[0] if in_range else groups[0]
    reason = _why_not(focus, profile, name)
    fitting = [g for g in groups if version_fits(g, profile)]
    hints = []
    if fitting and fitting[0] in in_range and uv_platform and \
            uv_platform.rsplit("manylinux_", 1)[-1] != f"{profile.glibc[0]}_{profile.glibc[1]}":
        reason += (f"; a wheel for {profile.glibc_version} exists ({fitting[0].version}), but uv can only "
                   f"target {uv_platform} for this runtime")
    if fitting and fitting[0] not in in_range:
        hints.append(f"pin {name}=={fitting[0].version} (the newest version with a wheel for {profile.name})")
    elif fitting and fitting[0] is not focus:
        hints.append(f"pin {name}=={fitting[0].version}")
    if "glibc" in reason and "requires Python" not in reason:
        others = _runtimes_that_fit(focus, profile)
        if others:
            hints.append(f"choose a runtime with a newer glibc that this wheel fits, such as {', '.join(others)}")
        else:
            hints.append("choose a runtime with a newer glibc")
    if not focus.wheels and focus.sdists:
        hints.append("pass --allow-pure-sdist if it is pure Python" if not allow_pure_sdist
                     else "install a wheel built for the target instead")
    if not hints:
        hints.append(f"pin {name} to a version that publishes a wheel for {profile.name}, or choose another runtime")
    hint = "To fix it: " + "; or ".join(hints) + "."
    return NoCompatibleWheelError(f"{head} Versions seen: {versions}. {tried} Nearest: {reason}.", hint)


def _runtimes_that_fit(group: VersionFiles, profile: Profile) -> list[str]:
    fits = []
    for other in builtin_profiles().values():
        if other.name != profile.name and other.arch == profile.arch and version_fits(group, other):
            fits.append(f"{other.name} (glibc {other.glibc_version})")
    return fits[:3]
