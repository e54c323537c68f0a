"""Reading ``uv.lock``: the packages one target installs, with their files.

A uv.lock is universal: it pins one resolution for every platform and
Python the project allows, with markers on the dependency edges.  The set for
one target is found by walking the graph from the project (the package whose
source is the lock's own directory, ``virtual`` or ``editable``), following
its dependencies, the ``--extra`` and ``--group`` selections, and the extras
each edge asks for, keeping only edges whose marker holds for the target.
Development groups are never taken by default (uv installs ``dev`` into a
virtualenv; a bundle is for production).  Format: the ``version = 1`` lock
uv writes (https://docs.astral.sh/uv/concepts/projects/layout/#the-lockfile).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from fcslim.core.errors import InputError
from fcslim.target.profile import Profile
from fcslim.resolve.pyproject import expand_extras
from fcslim.resolve.locked import LockedFile, LockedPackage, LockedSet, check_requires_python
from fcslim.core.tomlread import read_toml

_LOCAL_SOURCES = ("virtual", "editable", "directory")


def _holds(marker: str | None, environment: dict[str, str], where: str) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(dict(environment, extra=""))
    except InvalidMarker as exc:
        raise InputError(f"{where}: marker {marker!r} is not valid ({exc}).",
                         "Re-create the lock with `uv lock`.") from exc


def _file(entry: dict, lock_dir: Path, registry: str | None, where: str) -> LockedFile:
    url = entry.get("url")
    if url is None:
        path = entry.get("path")
        if not isinstance(path, str):
            raise InputError(f"{where}: a file entry has neither url nor path.", "Re-create the lock with `uv lock`.")
        if registry and "://" in registry:
            url = urljoin(registry if registry.endswith("/") else registry + "/", path)
        else:
            url = (lock_dir / (registry or ".") / path).resolve().as_uri()
    digest = entry.get("hash")
    sha256 = digest.split(":", 1)[1].lower() if isinstance(digest, str) and digest.startswith("sha256:") else None
    return LockedFile(url.rsplit("/", 1)[-1], url, sha256, entry.get("size"))


class _Graph:
    def __init__(self, path: Path, packages: list[dict], environment: dict[str, str]):
        self.path = path
        self.environment = environment
        self.by_name: dict[str, list[dict]] = {}
        for package in packages:
            if not isinstance(package, dict) or "name" not in package:
                raise InputError(f"{path}: a [[package]] entry has no name.", "Re-create the lock with `uv lock`.")
            self.by_name.setdefault(canonicalize_name(package["name"]), []).append(package)

    def where(self, package: dict) -> str:
        return f"{self.path}: package {package.get('name')} {package.get('version', '')}".rstrip()

    def find(self, edge: dict, needed_by: str) -> dict:
        name = canonicalize_name(str(edge.get("name", "")))
        candidates = self.by_name.get(name, [])
        if "version" in edge:
            candidates = [c for c in candidates if c.get("version") == edge["version"]]
        if len(candidates) > 1:
            candidates = [c for c in candidates
                          if any(_holds(m, self.environment, self.where(c)) for m in c.get("resolution-markers", [""]))]
        if not candidates:
            raise InputError(f"{self.path}: {needed_by} depends on {name}, which the lock does not pin for this "
                             "target.", "Re-create the lock with `uv lock`.")
        return candidates[0]

    def edges(self, package: dict, key: str, selection: str | None = None) -> list[dict]:
        table = package.get(key, [] if selection is None else {})
        chosen = table if selection is None else table.get(selection, [])
        return [e for e in chosen if _holds(e.get("marker"), self.environment, self.where(package))]


def _project(graph: _Graph, packages: list[dict]) -> dict:
    local = [p for p in packages if any(p.get("source", {}).get(k) == "." for k in _LOCAL_SOURCES)]
    if not local:
        raise InputError(f"{graph.path} has no project at its own directory (a package with source virtual or "
                         "editable \".\"), so fcslim cannot tell what to install.",
                         "Pass the uv.lock of a project (`uv lock` next to its pyproject.toml).")
    return local[0]


def read_uv_lock(path: Path, profile: Profile, extras: tuple[str, ...] = (),
                 groups: tuple[str, ...] = ()) -> LockedSet:
    """The packages ``profile`` installs from the uv.lock at ``path``."""
    data = read_toml(path)
    if data.get("version") != 1:
        raise InputError(f"{path} is a uv.lock of version {data.get('version')!r}; fcslim reads version 1.",
                         "Upgrade fcslim, or re-create the lock with a uv that writes version 1.")
    check_requires_python(data.get("requires-python"), profile, str(path))
    packages = data.get("package", [])
    graph = _Graph(path, packages, profile.marker_environment())
    project = _project(graph, packages)
    known_extras = set(project.get("optional-dependencies", {}))
    known_groups = set(project.get("dev-dependencies", {}))
    extras = expand_extras(extras, known_extras)
    for kind, asked, known in (("extra", extras, known_extras), ("group", groups, known_groups)):
        unknown = sorted(set(asked) - known)
        if unknown:
            raise InputError(f"{path}: the project {project['name']} has no {kind} {', '.join(unknown)}.",
                             f"Known: {', '.join(sorted(known)) or 'none'}.")
    pending = [(e, project["name"]) for e in graph.edges(project, "dependencies")]
    for extra in extras:
        pending += [(e, f"{project['name']}[{extra}]") for e in graph.edges(project, "optional-dependencies", extra)]
    for group in groups:
        pending += [(e, f"{project['name']} (group {group})") for e in graph.edges(project, "dev-dependencies", group)]
    chosen: dict[tuple[str, str], dict] = {}
    extras_seen: dict[tuple[str, str], set[str]] = {}
    while pending:
        edge, needed_by = pending.pop()
        package = graph.find(edge, needed_by)
        key = (canonicalize_name(package["name"]), str(package.get("version", "")))
        wanted = set(edge.get("extra", []))
        if key in chosen and wanted <= extras_seen[key]:
            continue
        first = key not in chosen
        new = wanted - extras_seen.get(key, set())
        chosen[key] = package
        extras_seen.setdefault(key, set()).update(wanted)
        here = graph.where(package)
        if first:
            pending += [(e, here) for e in graph.edges(package, "dependencies")]
        for extra in sorted(new):
            pending += [(e, here) for e in graph.edges(package, "optional-dependencies", extra)]
    return LockedSet(path, "uv.lock", tuple(_locked(graph, chosen[k]) for k in sorted(chosen)))


def _locked(graph: _Graph, package: dict) -> LockedPackage:
    where = graph.where(package)
    source = package.get("source", {})
    local = next((k for k in _LOCAL_SOURCES + ("git",) if k in source), None)
    if local:
        raise InputError(f"{where} comes from a {local} source ({source[local]}); a bundle holds built wheels.",
                         "Build a wheel of it (`uv build`) and depend on that, or publish it to an index.")
    lock_dir = graph.path.parent
    wheel_itself = next((str(source[k]) for k in ("url", "path") if str(source.get(k, "")).endswith(".whl")), None)
    if wheel_itself is not None:
        # A `name @ URL` or `path = "x.whl"` source: its wheels entry names the
        # file (url, or just filename and hash); the source says where it is.
        entry = dict(package.get("wheels", [{}])[0])
        entry.setdefault("url" if "://" in wheel_itself else "path", wheel_itself)
        wheels: tuple[LockedFile, ...] = (_file(entry, lock_dir, None, where),)
    else:
        registry = source.get("registry") or source.get("url") or source.get("path")
        wheels = tuple(_file(w, lock_dir, registry, where) for w in package.get("wheels", []))
    registry = source.get("registry")
    sdist = _file(package["sdist"], lock_dir, registry, where) if "sdist" in package else None
    return LockedPackage(canonicalize_name(package["name"]), str(package.get("version", "")), wheels, sdist, where)
