"""What `fcslim fetch` did, as plain data, and its record ``.fcslim/libraries.json``.

One reader and one writer of that file: the fetch stage writes it, and the
slim stage, the report and the hand-off read it through :func:`read_record`
and :func:`protected_paths`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fcslim.core.files import atomic_write
from fcslim.core.output import refresh_owner_record
from fcslim.elf.findings import LoadProblem, MissingLibrary

SCHEMA = 1
RECORD_DIR = ".fcslim"
RECORD_NAME = "libraries.json"


@dataclass(frozen=True)
class EnvSetting:
    """One variable the start-up hook sets: bundle-relative ``paths`` (joined
    with ``separator``), each found beside the hook or one level up (a layer's
    ``lib/`` sits beside ``python/``); a ``format`` other than ``{}`` takes the
    paths in order instead (``-sICCProfilesDir={}/ -sGenericResourceDir={}/``)."""

    name: str
    paths: tuple[str, ...]
    separator: str = ":"
    format: str = "{}"

    def to_config(self) -> dict:
        config: dict = {"paths": list(self.paths)}
        if self.separator != ":":
            config["separator"] = self.separator
        if self.format != "{}":
            config["format"] = self.format
        return config

    def describe(self) -> str:
        """The value as bundle-relative paths, for records and messages."""
        if self.format != "{}":
            return self.format.format(*self.paths)
        return self.separator.join(self.paths)


@dataclass(frozen=True)
class FetchedLibrary:
    soname: str
    path: str  # relative to the bundle root
    package: str
    version: str
    source_package: str
    license: str
    deb_url: str
    deb_sha256: str
    size: int
    needed_by: tuple[str, ...]
    suite: str = ""
    member: str = ""  # the file's path inside the package
    copyright: str | None = None  # relative path of the copied copyright file

    def to_dict(self) -> dict:
        data = asdict(self)
        data["needed_by"] = list(self.needed_by)
        return data


@dataclass(frozen=True)
class FetchedDataFile:
    """A file a library (or executable) reads at run time: configuration,
    plugins, fonts, databases; relocated from its Debian path to
    ``<lib_dir>/data/<path in the package>``."""

    path: str
    package: str
    version: str
    member: str
    library: str  # the soname (or package, for executables) it serves
    size: int
    deb_url: str
    deb_sha256: str
    why: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FetchedExecutable:
    """A program of a Debian package placed in ``bin/``."""

    name: str
    path: str
    package: str
    version: str
    member: str
    size: int
    deb_url: str
    deb_sha256: str
    requested_by: str  # "--system-package" or the distribution that wraps it

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OptionalMissing:
    """A missing library needed only by extension modules that nothing
    imports when the bundle's top-level modules are imported."""

    soname: str
    needed_by: tuple[str, ...]
    modules: tuple[str, ...]  # dotted names of the modules that need it
    feature: str  # what is lost without it
    wheel: str | None = None  # a PyPI distribution that ships the soname

    def to_dict(self) -> dict:
        data = asdict(self)
        data["needed_by"] = list(self.needed_by)
        data["modules"] = list(self.modules)
        return data


@dataclass
class FetchResult:
    root: Path
    profile: str
    release: str
    mirror: str
    lib_dir: str
    fetched: list[FetchedLibrary]
    data_files: list[FetchedDataFile]
    missing: list[MissingLibrary]  # no package provides these
    unloadable: list[LoadProblem]
    skipped_system: list[str]
    env: dict[str, str]  # variable -> value relative to the bundle (paths joined with ':')
    hooks: list[str]
    runpath_patched: list[str]
    authentication: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    trust: dict[str, object] = field(default_factory=dict)  # Trust.to_dict(): keyrings, allow_unsigned
    notes: list[str] = field(default_factory=list)
    executables: list[FetchedExecutable] = field(default_factory=list)
    optional_missing: list[OptionalMissing] = field(default_factory=list)
    code_needs: dict[str, list[str]] = field(default_factory=dict)  # dist -> sonames found in its code
    code_unresolved: dict[str, list[str]] = field(default_factory=dict)  # dist -> names no package provides
    hook_env: list[EnvSetting] = field(default_factory=list)  # what the start-up hook sets
    hook_templates: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def record_path(self) -> Path:
        return self.root / RECORD_DIR / RECORD_NAME

    @property
    def fetched_bytes(self) -> int:
        return (sum(f.size for f in self.fetched) + sum(d.size for d in self.data_files)
                + sum(e.size for e in self.executables))

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "profile": self.profile,
            "debian": {"release": self.release, "mirror": self.mirror, "authentication": self.authentication,
                       "trust": self.trust},
            "lib_dir": self.lib_dir,
            "fetched": [f.to_dict() for f in self.fetched],
            "data_files": [d.to_dict() for d in self.data_files],
            "executables": [e.to_dict() for e in self.executables],
            "env": self.env,
            "hook_env": [{"name": s.name, **s.to_config()} for s in self.hook_env],
            "hook_templates": self.hook_templates,
            "hooks": self.hooks,
            "runpath_patched": self.runpath_patched,
            "skipped_system": self.skipped_system,
            "missing": [{"soname": m.soname, "needed_by": list(m.needed_by)} for m in self.missing],
            "optional_missing": [o.to_dict() for o in self.optional_missing],
            "code_needs": self.code_needs,
            "code_unresolved": self.code_unresolved,
            "unloadable": [{"path": p.path, "kind": p.kind, "detail": p.detail} for p in self.unloadable],
            "warnings": self.warnings,
            "notes": self.notes,
        }


def read_record(root: Path) -> dict:
    """The bundle's ``libraries.json`` as a dict ({} when absent or unreadable)."""
    try:
        raw = json.loads((Path(root) / RECORD_DIR / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def write_record(result: FetchResult) -> Path:
    path = atomic_write(result.record_path, json.dumps(result.to_dict(), indent=1) + "\n", role="fetch record",
                        durable=False)
    refresh_owner_record(result.root)
    return path


def previous_records(root: Path) -> tuple[dict[str, FetchedLibrary], dict[str, FetchedDataFile],
                                          dict[str, FetchedExecutable]]:
    """What an earlier fetch placed and is still there: libraries by soname,
    data files and executables by path."""
    raw = read_record(root)
    libs: dict[str, FetchedLibrary] = {}
    for item in raw.get("fetched", []):
        try:
            record = FetchedLibrary(**{**item, "needed_by": tuple(item.get("needed_by", ()))})
        except TypeError:
            continue
        if (root / record.path).is_file():
            libs[record.soname] = record
    data: dict[str, FetchedDataFile] = {}
    for item in raw.get("data_files", []):
        try:
            data_file = FetchedDataFile(**item)
        except TypeError:
            continue
        if (root / data_file.path).is_file():
            data[data_file.path] = data_file
    programs: dict[str, FetchedExecutable] = {}
    for item in raw.get("executables", []):
        try:
            program = FetchedExecutable(**item)
        except TypeError:
            continue
        if (root / program.path).is_file():
            programs[program.path] = program
    return libs, data, programs


def protected_paths(root: Path) -> set[str]:
    """Every bundle path fetch placed (libraries, data files, executables,
    generated configuration): slimming must never remove or strip them."""
    raw = read_record(root)
    paths = {item["path"] for key in ("fetched", "data_files", "executables")
             for item in raw.get(key, []) if isinstance(item, dict) and isinstance(item.get("path"), str)}
    return paths
