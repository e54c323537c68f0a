"""Who needs which library, who provides it, and what cannot load.

:func:`analyse` takes the ELF facts of a tree (:mod:`fcslim.elf.facts`) and a runtime
profile and resolves every need the way the target's dynamic loader would
(:class:`fcslim.elf.resolver.Resolver`):

1. the needing file's DT_RPATH, when it has no DT_RUNPATH;
2. LD_LIBRARY_PATH: the profile's ``library_path`` directories that lie inside
   the bundle (``/code`` and ``/code/lib`` on FC, ``/var/task`` and
   ``/var/task/lib`` on Lambda), and always the bundle's ``lib/``;
3. the file's DT_RUNPATH (auditwheel's ``$ORIGIN/../pkg.libs``);
4. the system image: the libraries ``data/manylinux_whitelist.json`` lists for
   the profile's ``system_image`` plus the glibc/GCC runtime core;
5. else the need is missing.

``$ORIGIN`` expands to the needing file's directory inside the tree; absolute
entries under the code root map into the tree; a candidate that exists but is
for another machine is skipped, as ld.so does.  Libraries a distribution opens
by name at run time (``data/dlopen_libraries.json``) are needs too, searched on
LD_LIBRARY_PATH and the system image.

Symbol versions are checked against the provider (:mod:`fcslim.elf.versions`): GLIBC_x.y newer than the
profile's glibc is ``glibc-too-new``; GLIBCXX_/CXXABI_/GCC_ versions newer than
the image's libstdc++/libgcc_s, or any version a bundled provider does not
define, is ``symbol-version-too-new``.  A bundled libstdc++ satisfies its own
needs, because needs resolved to the bundle are checked against the bundled
file.

Not modelled: DT_RPATH inherited from the loading executable, and
libraries already loaded by the Python interpreter itself.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from fcslim.elf.facts import UNREADABLE, ElfFile, scan_tree
from fcslim.elf.findings import LoadProblem, MissingLibrary
from fcslim.elf.order import dependency_order
from fcslim.elf.policy import SystemImage, dlopen_groups, system_image
from fcslim.elf.resolver import Resolver
from fcslim.elf.versions import version_problems
from fcslim.target.profile import Profile

SCHEMA = 1
_LOADABLE_TYPES = ("DYN", "EXEC")


# -- the report ------------------------------------------------------------

Node = tuple[str, str]
"""A needer: ``("file", path)`` for an ELF file of the tree, ``("dist", name)``
for a distribution's libraries opened by name (``data/dlopen_libraries.json``)."""


@dataclass
class NeedGraph:
    """Who needs which soname and what provides it, as :func:`analyse` found it."""

    file_sizes: dict[str, int] = field(default_factory=dict)  # every ELF file of the tree, by path
    distributions: set[str] = field(default_factory=set)  # distributions with libraries opened by name
    needs: dict[Node, set[str]] = field(default_factory=dict)  # needer -> the sonames it needs
    provided_by: dict[str, dict[str, str]] = field(default_factory=dict)  # soname -> needer -> bundle file
    system: set[str] = field(default_factory=set)  # sonames the runtime's system image provides
    missing: set[str] = field(default_factory=set)  # sonames nothing provides to some needer

    def need(self, needer: Node, soname: str) -> None:
        self.needs.setdefault(needer, set()).add(soname)

    def provide(self, soname: str, needer: str, path: str) -> None:
        """``path`` (in the tree) is the file ``needer`` loads for ``soname``."""
        self.provided_by.setdefault(soname, {})[needer] = path


@dataclass
class LibraryReport:
    root: Path
    profile: Profile
    image: SystemImage
    files: list[ElfFile]
    missing: list[MissingLibrary]
    unloadable: list[LoadProblem]
    resolved: dict[tuple[str, str], str]
    graph: NeedGraph
    dlopen: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unloadable

    @property
    def missing_sonames(self) -> list[str]:
        return [m.soname for m in self.missing]

    def bundle_providers(self) -> set[str]:
        return {p.split(":", 1)[1] for p in self.resolved.values() if p.startswith("bundle:")}

    def load_order(self) -> list[str]:
        """Bundle libraries that something needs, dependencies first (a
        library comes after everything it needs from the bundle).  Members of a
        dependency cycle come together, by path."""
        providers = self.bundle_providers()
        edges = []
        for (needer, _soname), provider in self.resolved.items():
            if not provider.startswith("bundle:"):
                continue
            target = provider.split(":", 1)[1]
            if needer in providers and target != needer:
                edges.append((target, needer))  # target must load first
        return dependency_order(providers, edges)

    def summary(self) -> dict:
        providers = list(self.resolved.values())
        return {
            "elf_files": sum(1 for f in self.files if f.file_type != UNREADABLE),
            "elf_bytes": sum(f.size for f in self.files if f.file_type != UNREADABLE),
            "needs": len(providers),
            "bundle": sum(1 for p in providers if p.startswith("bundle:")),
            "system": sum(1 for p in providers if p == "system"),
            "missing": len(self.missing),
            "unloadable": len(self.unloadable),
            "unreadable": sum(1 for p in self.unloadable if p.kind == "unreadable"),
        }

    def to_dict(self, include_files: bool = True) -> dict:
        """The versioned JSON form (``fcslim scan --json``); see the README."""
        data = {
            "schema": SCHEMA,
            "root": str(self.root),
            "runtime": self.profile.name,
            "arch": self.profile.arch,
            "glibc": self.profile.glibc_version,
            "system_image": self.image.name,
            "ok": self.ok,
            "summary": self.summary(),
            "missing": [{"soname": m.soname, "needed_by": list(m.needed_by)} for m in self.missing],
            "unloadable": [{"path": p.path, "kind": p.kind, "detail": p.detail} for p in self.unloadable],
            "dlopen": self.dlopen,
            "resolved": [
                {"needer": needer, "soname": soname, "provider": provider}
                for (needer, soname), provider in sorted(self.resolved.items())
            ],
            "load_order": self.load_order(),
        }
        if include_files:
            data["files"] = [f.to_dict() for f in self.files]
        return data


# -- resolution ------------------------------------------------------------


def analyse(root: str | os.PathLike, profile: Profile, files: list[ElfFile] | None = None) -> LibraryReport:
    """Resolve every need of every ELF file in ``root`` (and every dlopen need
    of its distributions) for ``profile``; see the module docstring."""
    root = Path(root)
    if files is None:
        files = scan_tree(root)
    image = system_image(profile)
    resolver = Resolver(root, profile, image, files)
    graph = NeedGraph()
    resolved: dict[tuple[str, str], str] = {}
    missing: dict[str, list[str]] = {}
    problems: list[LoadProblem] = []

    for facts in files:
        graph.file_sizes[facts.path] = facts.size
        if facts.error:
            kind = "unreadable" if facts.file_type == UNREADABLE else "malformed"
            problems.append(LoadProblem(facts.path, kind, facts.error))
            continue
        if facts.file_type not in _LOADABLE_TYPES:
            continue  # object files and core dumps are never loaded
        if facts.machine != profile.elf_machine:
            problems.append(LoadProblem(
                facts.path, "wrong-machine",
                f"built for {facts.machine}; {profile.name} runs {profile.elf_machine} ({profile.arch})",
            ))
            continue
        if facts.elf_class != 64:
            problems.append(LoadProblem(
                facts.path, "wrong-class",
                f"a {facts.elf_class}-bit ELF file; {profile.name} loads only 64-bit ones",
            ))
            continue
        for soname in facts.needed:
            provider = resolver.resolve(facts, soname)
            _record(graph, resolved, missing, facts.path, soname, provider)

    _resolve_through_loader_rpath(files, resolver, graph, resolved, missing)
    for facts in files:
        if facts.ok and facts.file_type in _LOADABLE_TYPES and resolver.compatible(facts):
            problems.extend(version_problems(facts, resolved, resolver, profile, image))

    dlopen: dict[str, list[str]] = {}
    for dist, groups in dlopen_groups(root).items():
        needer = f"dlopen:{dist}"
        dlopen[dist] = []
        graph.distributions.add(dist)
        for alternatives in groups:
            chosen, provider = alternatives[0], None
            for soname in alternatives:
                provider = resolver.resolve(None, soname)
                if provider is not None:
                    chosen = soname
                    break
            dlopen[dist].append(chosen)
            _record(graph, resolved, missing, needer, chosen, provider, node=("dist", dist))

    missing_list = [MissingLibrary(s, tuple(sorted(set(n)))) for s, n in sorted(missing.items())]
    problems.sort(key=lambda p: (p.path, p.kind, p.detail))
    return LibraryReport(
        root=root, profile=profile, image=image, files=list(files), missing=missing_list,
        unloadable=problems, resolved=resolved, graph=graph, dlopen=dlopen,
    )


def _resolve_through_loader_rpath(files: list[ElfFile], resolver: Resolver, graph: NeedGraph,
                                  resolved: dict[tuple[str, str], str], missing: dict[str, list[str]]) -> None:
    """ld.so searches a library that has no DT_RUNPATH also in the DT_RPATH of
    the object that loaded it, and of that one's loader, up the chain.  A need
    still missing after the first pass is retried in the RPATHs of every chain
    of tree files that leads to its file (until nothing changes)."""
    by_path = {f.path: f for f in files}
    changed = True
    while changed and missing:
        changed = False
        loaders: dict[str, set[str]] = {}
        for (needer, _soname), provider in resolved.items():
            if provider.startswith("bundle:"):
                loaders.setdefault(provider.split(":", 1)[1], set()).add(needer)
        for soname in sorted(missing):
            still = []
            for needer in missing[soname]:
                facts = by_path.get(needer)
                found = None
                if facts is not None and not facts.runpath:
                    for directory in _inherited_rpath_dirs(needer, loaders, by_path, resolver):
                        found = resolver.candidate(directory, soname)
                        if found:
                            break
                if found:
                    resolved[(needer, soname)] = f"bundle:{found}"
                    graph.provide(soname, needer, found)
                    changed = True
                else:
                    still.append(needer)
            if still:
                missing[soname] = still
            else:
                del missing[soname]
                graph.missing.discard(soname)


def _inherited_rpath_dirs(path: str, loaders, by_path, resolver: Resolver) -> list[str]:
    dirs: list[str] = []
    seen = {path}
    frontier = sorted(loaders.get(path, ()))
    while frontier:
        nxt = []
        for loader in frontier:
            if loader in seen:
                continue
            seen.add(loader)
            facts = by_path.get(loader)
            if facts is None:
                continue
            origin = posixpath.dirname(loader)
            for entry in facts.rpath:
                mapped = resolver.tree_dir(entry, origin)
                if mapped is not None and mapped not in dirs:
                    dirs.append(mapped)
            nxt.extend(sorted(loaders.get(loader, ())))
        frontier = nxt
    return dirs


def _record(graph: NeedGraph, resolved: dict[tuple[str, str], str], missing: dict[str, list[str]], needer: str,
            soname: str, provider: str | None, node: Node | None = None) -> None:
    graph.need(node or ("file", needer), soname)
    if provider is None:
        missing.setdefault(soname, []).append(needer)
        graph.missing.add(soname)
        return
    resolved[(needer, soname)] = provider
    if provider == "system":
        graph.system.add(soname)
    else:
        graph.provide(soname, needer, provider.split(":", 1)[1])


def needs_of(files: Iterable[ElfFile], profile: Profile, root: str | os.PathLike) -> set[str]:
    """Sonames the given files (and the tree's dlopen distributions) need that
    neither the tree nor the runtime provides."""
    files = list(files)
    wanted = {f.path for f in files}
    report = analyse(root, profile, files)
    return {
        m.soname for m in report.missing
        if any(n in wanted or n.startswith("dlopen:") for n in m.needed_by)
    }
