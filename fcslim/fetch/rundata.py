"""Run-time data of fetched libraries: configuration, plugins, fonts, databases.

A library is more than its ``.so``: fontconfig needs ``fonts.conf`` and a
font, ImageMagick its coder modules, Ghostscript ``gs_init.ps``...  The facts
are data (``data/runtime_data.json``, one entry per soname, with sources):
which Debian packages carry the data (found through the Depends of the
library's own package), which members to take, and which environment
variables point the library at them.  Members are relocated from ``/<path>``
to ``<lib_dir>/data/<path>`` (or, for a package rule with ``into``, placed by
name in ``<lib_dir>/<into>``: Graphviz looks for its plugins in ``graphviz/``
beside wherever its libgvc was loaded from); a link inside the packages becomes a regular
copy of its target (also across the listed packages, as Ghostscript's
``Resource/Font`` links into ``fonts-urw-base35``).  The variables are set at
start-up by the bundle's hook (:mod:`fcslim.fetch.hook`), wherever the bundle
was unpacked; configuration that must hold absolute paths is written from a
template into the temporary directory there.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from fcslim.core.resources import data_path
from fcslim.debian.archive import DebianRelease
from fcslim.debian.debfile import DebArchive
from fcslim.debian.indexes import PackageEntry
from fcslim.fetch.generated import GenerateRule, PendingGeneration
from fcslim.fetch.placement import OpenPackages, write_file, write_member
from fcslim.fetch.record import EnvSetting, FetchedDataFile

DATA_DIR = "data"
TEMPLATE_SUFFIX = ".fcslim-template"
ROOT_PLACEHOLDER = "@FCSLIM_ROOT@"
_DEPENDS_NAME = re.compile(r"^\s*([a-z0-9][a-z0-9+.-]*)")


@dataclass(frozen=True)
class PackageRule:
    names: tuple[str, ...]  # alternatives, preferred first
    members: tuple[str, ...]  # fnmatch globs of member paths
    into: str | None = None  # a directory under lib_dir to place members in by name, instead of data/<path>


@dataclass(frozen=True)
class EnvRule:
    name: str
    paths: tuple[str, ...]  # globs relative to the relocated tree
    format: str | None = None


@dataclass(frozen=True)
class DataRule:
    soname: str
    why: str
    packages: tuple[PackageRule, ...]
    env: tuple[EnvRule, ...]
    templates: tuple[tuple[str, str], ...] = ()  # (path in the relocated tree, text)
    generate: tuple[GenerateRule, ...] = ()  # files a maintainer script makes (fetch/generated.py)


@dataclass
class PlacedData:
    """What :func:`place_runtime_data` did for one library."""

    files: list[FetchedDataFile] = field(default_factory=list)
    env: list[EnvSetting] = field(default_factory=list)
    templates: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending: list[PendingGeneration] = field(default_factory=list)


@lru_cache(maxsize=1)
def data_rules() -> dict[str, DataRule]:
    raw = json.loads(data_path("runtime_data.json").read_text())
    rules = {}
    for soname, entry in raw["libraries"].items():
        packages = tuple(
            PackageRule(tuple([p["name"]] if isinstance(p["name"], str) else p["name"]), tuple(p.get("members", ())),
                        p.get("into"))
            for p in entry["packages"]
        )
        env = tuple(EnvRule(name, tuple(spec["paths"]), spec.get("format")) for name, spec in entry.get("env", {}).items())
        templates = tuple((t["path"], t["text"]) for t in entry.get("templates", ()))
        generate = tuple(GenerateRule(g["path"], g["package"], g["program"], tuple(g.get("args", ())),
                                      tuple(sorted(g.get("env", {}).items())))
                         for g in entry.get("generate", ()))
        rules[soname] = DataRule(soname, entry.get("why", ""), packages, env, templates, generate)
    return rules


def parse_depends(text: str | None) -> list[tuple[str, ...]]:
    """A Depends field as groups of alternative package names (versions and
    architecture qualifiers dropped)."""
    groups = []
    for group in (text or "").split(","):
        names = []
        for alternative in group.split("|"):
            match = _DEPENDS_NAME.match(alternative.split(":")[0])
            if match:
                names.append(match.group(1))
        if names:
            groups.append(tuple(names))
    return groups


def _choose_packages(rule: DataRule, library_package: PackageEntry, release: DebianRelease,
                     packages: OpenPackages) -> tuple[list[tuple[PackageRule, PackageEntry]], list[str]]:
    """The package each of ``rule.packages`` names, preferring what the Debian
    dependencies of the library's package reach."""
    notes: list[str] = []
    reachable = {library_package.name}
    deb, _ = packages.get(library_package)
    reachable.update(n for group in parse_depends(deb.control.get("Depends")) for n in group)
    chosen: dict[int, PackageEntry] = {}
    changed = True
    while changed:
        changed = False
        for index, wanted in enumerate(rule.packages):
            if index in chosen:
                continue
            name = next((n for n in wanted.names if n in reachable), None)
            entry = release.newest(name) if name else None
            if entry is None:
                continue
            chosen[index] = entry
            deb, _ = packages.get(entry)
            reachable.update(n for group in parse_depends(deb.control.get("Depends")) for n in group)
            changed = True
    result = []
    for index, wanted in enumerate(rule.packages):
        entry = chosen.get(index)
        if entry is None:
            entry = next((e for e in (release.newest(n) for n in wanted.names) if e is not None), None)
            if entry is None:
                notes.append(f"{rule.soname}: Debian {release.release} has none of {', '.join(wanted.names)}; "
                             "its run-time data from there is missing.")
                continue
            notes.append(f"{rule.soname}: {entry.name} is not among the Debian dependencies of "
                         f"{library_package.name}; taken because the data table names it.")
        result.append((wanted, entry))
    return result, notes


def link_target(member: str, target: str) -> str:
    path = target if target.startswith("/") else posixpath.join(posixpath.dirname(member), target)
    return posixpath.normpath(path).lstrip("/")


def follow_link(member: str, deb: DebArchive, entry: PackageEntry,
                others: Iterable[tuple[DebArchive, PackageEntry]]) -> tuple[DebArchive, str, PackageEntry] | None:
    """The package and file ``member`` leads to: in its own package, after
    the links that package ships (neato -> dot -> ../sbin/...), or else at
    that path in the first of ``others`` that has it (consumed lazily, so the
    caller may open packages on demand); None when the chain leaves them all."""
    target = member
    for _hop in range(40):
        if deb.resolve(target) is not None:
            return deb, target, entry
        item = deb.entries.get(target)
        if item is None or item.kind != "symlink" or not item.target:
            break
        target = link_target(target, item.target)
    if target == member:
        return None
    for other, other_entry in others:
        if other.resolve(target) is not None:
            return other, target, other_entry
    return None


def place_runtime_data(root: Path, lib_dir: str, soname: str, library_package: PackageEntry,
                       release: DebianRelease, packages: OpenPackages) -> PlacedData | None:
    """Place the run-time data ``soname`` needs (None when the table has no
    entry for it)."""
    rule = data_rules().get(soname)
    if rule is None:
        return None
    placed = PlacedData()
    chosen, placed.notes = _choose_packages(rule, library_package, release, packages)
    union = [(packages.get(entry)[0], entry) for _wanted, entry in chosen]
    base = f"{lib_dir}/{DATA_DIR}"
    skipped: list[str] = []
    for (wanted, entry), (deb, _entry) in zip(chosen, union):
        for member in sorted(deb.entries):
            item = deb.entries[member]
            if item.kind == "dir" or not any(fnmatch.fnmatchcase(member, g) for g in wanted.members):
                continue
            found = follow_link(member, deb, entry, union)
            if found is None:
                skipped.append(member)
                continue
            source, source_member, owner = found
            rel = f"{lib_dir}/{wanted.into}/{posixpath.basename(member)}" if wanted.into else f"{base}/{member}"
            mode = 0o755 if member.endswith(".so") or ".so." in posixpath.basename(member) else 0o644
            size = write_member(root / rel, source, source_member, mode)
            placed.files.append(FetchedDataFile(
                path=rel, package=owner.name, version=owner.version, member=member, library=soname,
                size=size, deb_url=owner.url, deb_sha256=owner.sha256, why=rule.why,
            ))
    if skipped:
        placed.notes.append(f"{soname}: {len(skipped)} linked data file(s) point outside the packages fcslim "
                            f"takes and were left out (e.g. {skipped[0]}).")
    placed.pending = [PendingGeneration(soname, rule.why, g, lib_dir) for g in rule.generate]
    rendered: dict[str, str] = {}
    for path, text in rule.templates:
        rel = f"{base}/{path}{TEMPLATE_SUFFIX}"
        content = text.replace("@DATA@", f"{ROOT_PLACEHOLDER}/{base}").encode()
        write_file(root / rel, content, 0o644)
        placed.files.append(FetchedDataFile(
            path=rel, package="", version="", member=f"(template for {path})", library=soname,
            size=len(content), deb_url="", deb_sha256="", why=rule.why,
        ))
        placed.templates.append({"source": rel, "name": posixpath.basename(path)})
        rendered[path] = rel
    for env in rule.env:
        values = []
        for pattern in env.paths:
            if pattern in rendered:
                values.append(rendered[pattern])
                continue
            matches = sorted(p.relative_to(root).as_posix() for p in (root / base).glob(pattern))
            if not matches:
                placed.notes.append(f"{soname}: nothing placed matches {pattern}, so {env.name} is not set.")
                values = []
                break
            values.append(matches[0])
        if values:
            placed.env.append(EnvSetting(env.name, tuple(values), format=env.format or "{}",
                                         separator=" " if env.format else ":"))
    return placed
