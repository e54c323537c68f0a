"""Who needs which library, who provides it, and what cannot load.

:func:`analyse` takes the ELF facts of a tree (:mod:`fcslim.elf.facts`) and a runtime
profile and resolves every need the way the target's dynamic loader would:

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

Symbol versions are checked against the provider: GLIBC_x.y newer than the
profile's glibc is ``glibc-too-new``; GLIBCXX_/CXXABI_/GCC_ versions newer than
the image's libstdc++/libgcc_s, or any version a bundled provider does not
define, is ``symbol-version-too-new``.  A bundled libstdc++ satisfies its own
needs, because needs resolved to the bundle are checked against the bundled
file.

Not modelled: DT_RPATH inherited from the loading executable, and
libraries already loaded by the Python interpreter itself.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import networkx as nx

from fcslim.elf.facts import ElfFile, is_elf, read_elf, scan_tree
from fcslim.core.errors import ProfileError
from fcslim.core.resources import data_path
from fcslim.target.profile import Profile

SCHEMA = 1
PROBLEM_KINDS = ("glibc-too-new", "symbol-version-too-new", "wrong-machine", "wrong-class", "malformed")
BUNDLE_LIB_DIR = "lib"
_LOADABLE_TYPES = ("DYN", "EXEC")
_VERSION_RE = re.compile(r"^(GLIBC|GLIBCXX|CXXABI|GCC)_(\d+(?:\.\d+)*)$")


# -- data ------------------------------------------------------------------


@dataclass(frozen=True)
class MissingLibrary:
    """A soname nothing in the tree or the runtime provides."""

    soname: str
    needed_by: tuple[str, ...]


@dataclass(frozen=True)
class LoadProblem:
    """A file that cannot load on the target, and why."""

    path: str
    kind: str
    detail: str


@dataclass(frozen=True)
class SystemImage:
    """What a runtime's system image provides (from the whitelist file)."""

    name: str
    libraries: frozenset[str]
    glibcxx_max: str | None = None
    cxxabi_max: str | None = None
    gcc_max: str | None = None
    python_shared: bool = False
    source: str = ""


def normalise_name(name: str) -> str:
    """A distribution name as PEP 503 normalises it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@lru_cache(maxsize=1)
def _whitelist() -> dict:
    return json.loads(data_path("manylinux_whitelist.json").read_text())


@lru_cache(maxsize=1)
def _dlopen_table() -> dict:
    return json.loads(data_path("dlopen_libraries.json").read_text())


def system_image(profile: Profile) -> SystemImage:
    """The system image the profile names, with the glibc/GCC core added."""
    data = _whitelist()
    images = data["images"]
    entry = images.get(profile.system_image)
    if entry is None:
        raise ProfileError(
            f"Runtime profile '{profile.name}' names system image '{profile.system_image}', "
            "which fcslim has no library list for.",
            f"Set `system_image` to one of {', '.join(sorted(images))}.",
        )
    libraries = set(data["core"]) | set(entry.get("libraries", []))
    if entry.get("python_shared"):
        libraries.add(f"libpython{profile.python_version}.so.1.0")
    return SystemImage(
        name=profile.system_image,
        libraries=frozenset(libraries),
        glibcxx_max=entry.get("glibcxx_max"),
        cxxabi_max=entry.get("cxxabi_max"),
        gcc_max=entry.get("gcc_max"),
        python_shared=bool(entry.get("python_shared")),
        source=entry.get("source", data["sources"].get(profile.system_image, "")),
    )


def system_libraries(profile: Profile) -> frozenset[str]:
    """Sonames the runtime already has (its image's list plus the glibc/GCC core)."""
    return system_image(profile).libraries


def _dist_name(dist_info: Path) -> str:
    metadata = dist_info / "METADATA"
    try:
        with open(metadata, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("name:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break
    except OSError:
        pass
    return dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0]


def installed_distributions(root: str | os.PathLike) -> dict[str, str]:
    """Normalised distribution name -> ``*.dist-info`` path (relative to root)
    for every distribution installed in the tree (pip -t layout, a layer's
    ``python/`` or a full site-packages below it)."""
    root = Path(root)
    found: dict[str, str] = {}
    base_depth = len(root.parts)
    for directory, subdirs, _files in os.walk(root):
        here = Path(directory)
        keep = []
        for name in subdirs:
            if name.endswith(".dist-info"):
                dist = here / name
                found.setdefault(normalise_name(_dist_name(dist)), dist.relative_to(root).as_posix())
            elif len(here.parts) - base_depth < 5 and not name.startswith(".") and name != "__pycache__":
                keep.append(name)
        subdirs[:] = keep
    return found


def dlopen_needs(root: str | os.PathLike) -> dict[str, list[str]]:
    """Sonames each installed distribution opens by name at run time, by
    normalised distribution name (only distributions in the data file).
    A need with alternatives is given as its preferred soname."""
    return {dist: [alts[0] for alts in group] for dist, group in _dlopen_groups(root).items()}


def _dlopen_groups(root: str | os.PathLike) -> dict[str, list[tuple[str, ...]]]:
    table = _dlopen_table()["distributions"]
    result: dict[str, list[tuple[str, ...]]] = {}
    for name in sorted(installed_distributions(root)):
        entry = table.get(name)
        if not entry:
            continue
        result[name] = [tuple(s) if isinstance(s, list) else (s,) for s in entry["sonames"]]
    return result


# -- the report ------------------------------------------------------------


@dataclass
class LibraryReport:
    root: Path
    profile: Profile
    image: SystemImage
    files: list[ElfFile]
    missing: list[MissingLibrary]
    unloadable: list[LoadProblem]
    resolved: dict[tuple[str, str], str]
    graph: nx.DiGraph
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
        deps = nx.DiGraph()
        deps.add_nodes_from(providers)
        for (needer, _soname), provider in self.resolved.items():
            if not provider.startswith("bundle:"):
                continue
            target = provider.split(":", 1)[1]
            if needer in providers and target != needer:
                deps.add_edge(target, needer)  # target must load first
        condensed = nx.condensation(deps)
        members = condensed.graph["mapping"]
        groups: dict[int, list[str]] = {}
        for path, group in members.items():
            groups.setdefault(group, []).append(path)
        order: list[str] = []
        for group in nx.lexicographical_topological_sort(condensed, key=lambda g: min(groups[g])):
            order.extend(sorted(groups[group]))
        return order

    def summary(self) -> dict:
        providers = list(self.resolved.values())
        return {
            "elf_files": len(self.files),
            "elf_bytes": sum(f.size for f in self.files),
            "needs": len(providers),
            "bundle": sum(1 for p in providers if p.startswith("bundle:")),
            "system": sum(1 for p in providers if p == "system"),
            "missing": len(self.missing),
            "unloadable": len(self.unloadable),
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


class _Resolver:
    def __init__(self, root: Path, profile: Profile, image: SystemImage, files: list[ElfFile]):
        self.root = root
        self.root_real = os.path.realpath(root)
        self.profile = profile
        self.image = image
        self.by_path = {f.path: f for f in files}
        self.ld_library_dirs = self._ld_library_dirs()
        self._cache: dict[tuple[str, str], str | None] = {}
        self._unreadable: set[str] = set()

    def _ld_library_dirs(self) -> tuple[str, ...]:
        dirs: list[str] = []
        for entry in self.profile.library_path:
            mapped = self.tree_dir(entry, origin=None)
            if mapped is not None and mapped not in dirs:
                dirs.append(mapped)
        if BUNDLE_LIB_DIR not in dirs:
            dirs.append(BUNDLE_LIB_DIR)
        return tuple(dirs)

    def tree_dir(self, entry: str, origin: str | None) -> str | None:
        """A search-path entry as a directory relative to the tree, or None
        when it points outside the tree (the system's own directories)."""
        if origin is not None:
            entry = entry.replace("${ORIGIN}", "$ORIGIN")
            if "$ORIGIN" in entry:
                entry = entry.replace("$ORIGIN", "/" + origin if origin else "/")
                path = posixpath.normpath(entry)
                if path.startswith("/.."):
                    return None
                return path.lstrip("/") or "."
        if not entry.startswith("/"):
            return None  # relative to the process's working directory: unknowable
        for base in (self.profile.code_root, self.profile.layer_root):
            base = base.rstrip("/")
            if entry == base or entry.startswith(base + "/"):
                rel = posixpath.normpath(entry[len(base):].lstrip("/") or ".")
                if rel.startswith(".."):
                    return None
                if base == self.profile.layer_root.rstrip("/") and base != self.profile.code_root.rstrip("/"):
                    # /opt/lib: a layer's lib/ is the bundle's lib/ when packed as a layer.
                    return rel if rel == BUNDLE_LIB_DIR else None
                return rel
        return None

    def candidate(self, directory: str, soname: str) -> str | None:
        key = (directory, soname)
        if key in self._cache:
            return self._cache[key]
        found = None
        rel = posixpath.normpath(posixpath.join(directory, soname))
        if not rel.startswith(".."):
            path = os.path.join(self.root, rel)
            if os.path.isfile(path):
                real = os.path.realpath(path)
                if real == self.root_real or real.startswith(self.root_real + os.sep):
                    target = os.path.relpath(real, self.root_real).replace(os.sep, "/")
                    facts = self.facts(target)
                    if facts is not None and facts.ok and self.compatible(facts):
                        found = target
        self._cache[key] = found
        return found

    def facts(self, rel: str) -> ElfFile | None:
        """The scanned facts of a tree file; files the caller did not pass
        (a partial list) are read on demand."""
        facts = self.by_path.get(rel)
        if facts is None and rel not in self._unreadable:
            path = self.root / rel
            if is_elf(path):
                facts = read_elf(path, self.root)
                self.by_path[rel] = facts
            else:
                self._unreadable.add(rel)
        return facts

    def compatible(self, facts: ElfFile) -> bool:
        return facts.machine == self.profile.elf_machine and facts.elf_class == 64

    def search_dirs(self, needer: ElfFile | None) -> list[str]:
        dirs: list[str] = []
        origin = posixpath.dirname(needer.path) if needer else None
        if needer is not None and not needer.runpath:
            dirs += [d for d in (self.tree_dir(e, origin) for e in needer.rpath) if d is not None]
        dirs += list(self.ld_library_dirs)
        if needer is not None:
            dirs += [d for d in (self.tree_dir(e, origin) for e in needer.runpath) if d is not None]
        seen: set[str] = set()
        return [d for d in dirs if not (d in seen or seen.add(d))]

    def resolve(self, needer: ElfFile | None, soname: str) -> str | None:
        """"bundle:<path>", "system", or None when missing."""
        if "/" in soname:
            # A path in DT_NEEDED: used as is, relative to the working directory.
            rel = posixpath.normpath(soname.lstrip("/"))
            found = self.candidate(posixpath.dirname(rel) or ".", posixpath.basename(rel))
            return f"bundle:{found}" if found else None
        for directory in self.search_dirs(needer):
            found = self.candidate(directory, soname)
            if found is not None:
                return f"bundle:{found}"
        if soname in self.image.libraries:
            return "system"
        return None


def _too_new(version: str, profile: Profile, image: SystemImage) -> tuple[str, str] | None:
    """(kind, limit) when a system-provided version is newer than the target's."""
    match = _VERSION_RE.match(version)
    if not match:
        return None  # GLIBC_PRIVATE, CXXABI_TM_1, CXXABI_FLOAT128 ...
    family, number = match.group(1), _version_tuple(match.group(2))
    if family == "GLIBC":
        if number[:2] > profile.glibc or (number[:2] == profile.glibc and len(number) > 2 and number[2] > 0):
            return "glibc-too-new", f"GLIBC_{profile.glibc_version}"
        return None
    limit = {"GLIBCXX": image.glibcxx_max, "CXXABI": image.cxxabi_max, "GCC": image.gcc_max}[family]
    if not limit:
        return None
    limit_match = _VERSION_RE.match(limit)
    if limit_match and number > _version_tuple(limit_match.group(2)):
        return "symbol-version-too-new", limit
    return None


def analyse(root: str | os.PathLike, profile: Profile, files: list[ElfFile] | None = None) -> LibraryReport:
    """Resolve every need of every ELF file in ``root`` (and every dlopen need
    of its distributions) for ``profile``; see the module docstring."""
    root = Path(root)
    if files is None:
        files = scan_tree(root)
    image = system_image(profile)
    resolver = _Resolver(root, profile, image, files)
    graph = nx.DiGraph()
    resolved: dict[tuple[str, str], str] = {}
    missing: dict[str, list[str]] = {}
    problems: list[LoadProblem] = []

    for facts in files:
        graph.add_node(("file", facts.path), kind="file", size=facts.size)
        if facts.error:
            problems.append(LoadProblem(facts.path, "malformed", facts.error))
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
            problems.extend(_version_problems(facts, resolved, resolver, profile, image))

    dlopen: dict[str, list[str]] = {}
    for dist, groups in _dlopen_groups(root).items():
        needer = f"dlopen:{dist}"
        dlopen[dist] = []
        graph.add_node(("dist", dist), kind="distribution")
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


def _resolve_through_loader_rpath(files, resolver: "_Resolver", graph, resolved, missing) -> None:
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
                    graph.add_edge(("soname", soname), ("file", found), kind="provided-by", needer=needer)
                    changed = True
                else:
                    still.append(needer)
            if still:
                missing[soname] = still
            else:
                del missing[soname]
                graph.nodes[("soname", soname)].pop("missing", None)


def _inherited_rpath_dirs(path: str, loaders, by_path, resolver: "_Resolver") -> list[str]:
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


def _record(graph, resolved, missing, needer: str, soname: str, provider: str | None, node=None) -> None:
    source = node or ("file", needer)
    so_node = ("soname", soname)
    if so_node not in graph:
        graph.add_node(so_node, kind="soname")
    graph.add_edge(source, so_node, kind="needs")
    if provider is None:
        missing.setdefault(soname, []).append(needer)
        graph.nodes[so_node]["missing"] = True
        return
    resolved[(needer, soname)] = provider
    if provider == "system":
        graph.nodes[so_node]["system"] = True
    else:
        graph.add_edge(so_node, ("file", provider.split(":", 1)[1]), kind="provided-by", needer=needer)


def _version_problems(facts: ElfFile, resolved, resolver: _Resolver, profile: Profile, image: SystemImage):
    for library, versions in facts.version_needs:
        provider = resolved.get((facts.path, library))
        if provider is None:
            continue  # missing: reported once as missing
        if provider == "system":
            worst: dict[str, list[str]] = {}
            limits: dict[str, str] = {}
            for version in versions:
                verdict = _too_new(version, profile, image)
                if verdict:
                    worst.setdefault(verdict[0], []).append(version)
                    limits[verdict[0]] = verdict[1]
            for kind, bad in worst.items():
                bad = sorted(bad, key=lambda v: _version_tuple(_VERSION_RE.match(v).group(2)))
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
