"""Which distribution, Debian package or fcslim hook owns each file of a
bundle, and its category (see :mod:`fcslim.report.measure`)."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from fcslim.core.records import installed_files
from fcslim.dists import name_and_version, read_record

UNOWNED = "(unowned)"
SYSTEM_LIBRARIES = "(system libraries)"
FCSLIM_HOOKS = "(fcslim hooks)"
_PYTHON_SUFFIXES = (".py", ".pyc", ".pyi", ".pyo")


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str | None
    dist_info: str


def _record_paths(dist_info: Path, existing: set[str]) -> list[str]:
    paths = []
    for norm in read_record(dist_info) or []:
        if norm.startswith("/"):
            continue
        if norm.startswith("../"):
            # A script installed outside site-packages (../../bin/x): in a pip -t
            # tree it sits in the tree's own bin/.
            stripped = norm
            while stripped.startswith("../"):
                stripped = stripped[3:]
            if stripped in existing:
                paths.append(stripped)
            continue
        paths.append(norm)
    return paths


class Attribution:
    """Which distribution owns each path of a tree: its RECORD, else the
    install record fcslim wrote (slimming removes RECORD files)."""

    def __init__(self, root: Path, paths: list[str], libraries: dict[str, dict], hooks: list[str] = ()):
        self.root = root
        self.hooks = set(hooks)
        self.dists: dict[str, _Dist] = {}
        self.owner: dict[str, str] = {}
        self.libraries = libraries
        existing = set(paths)
        dir_owners: dict[str, set[str]] = {}
        installed = installed_files(root)
        for entry in sorted(os.listdir(root)) if root.is_dir() else []:
            if not (entry.endswith(".dist-info") or entry.endswith(".egg-info")):
                continue
            dist_info = root / entry
            if not dist_info.is_dir():
                continue
            name, version = name_and_version(dist_info)
            dist = _Dist(name, version, entry)
            self.dists[name] = dist
            recorded = _record_paths(dist_info, existing) or [
                p for p in installed.get(canonicalize_name(name), []) if p in existing]
            owned = recorded + [p for p in paths if p.startswith(entry + "/")]
            for path in owned:
                self.owner.setdefault(path, name)
                parent = posixpath.dirname(path)
                while parent:
                    owners = dir_owners.setdefault(parent, set())
                    if name in owners:
                        break  # its parents have it too: they were walked when it was added
                    owners.add(name)
                    parent = posixpath.dirname(parent)
        self.dir_owner = {d: next(iter(o)) for d, o in dir_owners.items() if len(o) == 1}
        self.shared_dirs = {d for d, o in dir_owners.items() if len(o) > 1}

    def distribution(self, path: str) -> tuple[str, str | None, str]:
        """``(name, version, kind)`` for ``path``."""
        name = self.owner.get(path)
        if name is None:
            parent = posixpath.dirname(path)
            while parent and parent not in self.shared_dirs:
                if parent in self.dir_owner:
                    name = self.dir_owner[parent]
                    break
                parent = posixpath.dirname(parent)
        if name is not None:
            return name, self.dists[name].version, "wheel"
        if path in self.hooks:
            return FCSLIM_HOOKS, None, "fcslim"
        fetched = self.libraries.get(path)
        if fetched and fetched.get("package"):
            return str(fetched["package"]), fetched.get("version"), "debian"
        if path.startswith("lib/"):
            return SYSTEM_LIBRARIES, None, "debian"
        return UNOWNED, None, "unowned"


def debian_owned(record: dict) -> dict[str, dict]:
    """Bundle path → {package, version} for everything `fcslim fetch` copied:
    libraries, data files (magic.mgc...) and their copyright files."""
    owned: dict[str, dict] = {}
    for key in ("fetched", "data_files"):
        for item in record.get(key) or []:
            if not isinstance(item, dict) or not item.get("package"):
                continue
            facts = {"package": item["package"], "version": item.get("version")}
            for path_key in ("path", "copyright"):
                if isinstance(item.get(path_key), str):
                    owned.setdefault(item[path_key], facts)
    return owned


def categorise(path: str, is_elf: bool, kind: str) -> str:
    top = path.split("/", 1)[0]
    if top.endswith(".dist-info") or top.endswith(".egg-info"):
        return "metadata"
    if path.startswith("lib/") and kind != "wheel":
        return "libraries"
    if path.endswith(_PYTHON_SUFFIXES):
        return "python"
    if is_elf:
        return "extensions"
    return "data"
