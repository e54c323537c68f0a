"""Runtime profiles: the machine a bundle will run on.

A :class:`Profile` is plain data read from ``data/runtimes.json`` (built-in
runtimes) or from a user's JSON file.  Everything that depends on the target and
not on the build host lives here: the ordered wheel tags the target accepts, the
environment-marker values it would report, and where its code, layers and
libraries live.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from packaging import tags as ptags

from fcslim.core.errors import ProfileError, UnknownRuntimeError
from fcslim.core.inputs import note_input
from fcslim.core.resources import data_path

SUPPORTED_ARCHES = ("x86_64", "aarch64")
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# ELF e_machine names as lief reports them, per profile arch.
ELF_MACHINE = {"x86_64": "X86_64", "aarch64": "AARCH64"}

_VERSION_RE = re.compile(r"^\d+\.\d+$")
_FULL_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class DebianSource:
    """The Debian release that supplies missing system libraries."""

    release: str
    version: str
    mirror: str
    security_mirror: str | None = None


@dataclass(frozen=True)
class Limits:
    """Size limits of a runtime, in bytes (``layers`` is a count); ``None``
    when the runtime has none.  ``data/runtimes.json`` cites the provider's
    pages for each number.

    ``zipped_bytes``        the code zip uploaded through the API
    ``zipped_bytes_oss``    the code zip uploaded through object storage
    ``unzipped_bytes``      code and every layer unpacked, together (Lambda)
    ``layers``              how many layers a function may use (0: none)
    ``layer_zipped_bytes``  one layer's zip
    ``disk_bytes``          the writable /tmp a function gets by default
    ``disk_bytes_max``      the largest /tmp it can be configured with
    """

    zipped_bytes: int | None = None
    zipped_bytes_oss: int | None = None
    unzipped_bytes: int | None = None
    layers: int | None = None
    layer_zipped_bytes: int | None = None
    disk_bytes: int | None = None
    disk_bytes_max: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in LIMIT_FIELDS}


LIMIT_FIELDS = ("zipped_bytes", "zipped_bytes_oss", "unzipped_bytes", "layers", "layer_zipped_bytes",
                "disk_bytes", "disk_bytes_max")


@dataclass(frozen=True)
class Profile:
    """A target runtime, as plain data."""

    name: str
    description: str
    provider: str
    python: tuple[int, int]
    python_full_version: str
    implementation: str
    abi: str
    arch: str
    glibc: tuple[int, int]
    os: str
    debian: DebianSource
    system_image: str
    code_root: str
    layer_root: str
    python_path: tuple[str, ...]
    library_path: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)
    source: str = "built-in"
    # The provider's own name of the runtime (FC "python3.10", Lambda
    # "python3.12"), for deploy configuration; None when it has none.
    provider_runtime: str | None = None

    # -- derived facts ---------------------------------------------------
    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def glibc_version(self) -> str:
        return f"{self.glibc[0]}.{self.glibc[1]}"

    @property
    def debian_arch(self) -> str:
        return DEBIAN_ARCH[self.arch]

    @property
    def elf_machine(self) -> str:
        return ELF_MACHINE[self.arch]

    @property
    def manylinux_platform(self) -> str:
        """The newest manylinux platform tag the target accepts."""
        return f"manylinux_{self.glibc[0]}_{self.glibc[1]}_{self.arch}"

    @cached_property
    def platforms(self) -> tuple[str, ...]:
        """Platform tags, most specific first: manylinux_2_X down to 2_5 with
        the legacy aliases (manylinux2014, manylinux2010, manylinux1) and
        finally ``linux_<arch>``, which only matters for local builds."""
        return tuple(_manylinux_platforms(self.arch, self.glibc)) + (f"linux_{self.arch}",)

    @cached_property
    def tags(self) -> tuple[ptags.Tag, ...]:
        """Every wheel tag the target accepts, in order of preference.

        Computed with :mod:`packaging.tags` for the target's interpreter and
        platforms, never the host's: cpXY-specific, abi3 down to cp32, none, and
        the pure ``py*`` tags.
        """
        platforms = [p for p in self.platforms]
        cp = list(
            ptags.cpython_tags(
                python_version=self.python, abis=[self.abi], platforms=platforms
            )
        )
        generic = list(
            ptags.compatible_tags(
                python_version=self.python,
                interpreter=f"cp{self.python[0]}{self.python[1]}",
                platforms=platforms,
            )
        )
        seen: set[ptags.Tag] = set()
        ordered = []
        for tag in cp + generic:
            if tag not in seen:
                seen.add(tag)
                ordered.append(tag)
        return tuple(ordered)

    @cached_property
    def tag_set(self) -> frozenset[ptags.Tag]:
        return frozenset(self.tags)

    def tag_rank(self, tag: ptags.Tag) -> int | None:
        """Position of ``tag`` in :attr:`tags` (lower is better), or None."""
        return self._tag_ranks.get(tag)

    @cached_property
    def _tag_ranks(self) -> dict[ptags.Tag, int]:
        return {t: i for i, t in enumerate(self.tags)}

    def marker_environment(self) -> dict[str, str]:
        """The values ``packaging.markers`` needs, as the target reports them."""
        machine = self.arch
        return {
            "implementation_name": "cpython",
            "implementation_version": self.python_full_version,
            "os_name": "posix",
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": self.python_full_version,
            "python_version": self.python_version,
            "sys_platform": "linux",
        }

    def library_dir_in_bundle(self, layout: str = "code") -> str:
        """Where fetched libraries go inside the bundle so the runtime's own
        search path finds them: ``lib`` under the code root (/code/lib) or the
        layer root (/opt/lib)."""
        return "lib"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "provider": self.provider,
            "python": self.python_version,
            "python_full_version": self.python_full_version,
            "implementation": self.implementation,
            "abi": self.abi,
            "arch": self.arch,
            "glibc": self.glibc_version,
            "os": self.os,
            "debian": {
                "release": self.debian.release,
                "version": self.debian.version,
                "mirror": self.debian.mirror,
                "security_mirror": self.debian.security_mirror,
            },
            "system_image": self.system_image,
            "code_root": self.code_root,
            "layer_root": self.layer_root,
            "python_path": list(self.python_path),
            "library_path": list(self.library_path),
            "limits": self.limits.to_dict(),
            "provider_runtime": self.provider_runtime,
            "source": self.source,
        }

    def with_debian_mirror(self, mirror: str) -> "Profile":
        """A copy whose Debian packages come from ``mirror``."""
        from dataclasses import replace

        return replace(self, debian=replace(self.debian, mirror=mirror.rstrip("/")))


def _manylinux_platforms(arch: str, glibc: tuple[int, int]):
    legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
    major, minor = glibc
    for m in range(minor, 4, -1):
        yield f"manylinux_{major}_{m}_{arch}"
        alias = legacy.get((major, m))
        if alias and (arch in ("x86_64", "i686") or alias == "manylinux2014"):
            yield f"{alias}_{arch}"


# -- loading ---------------------------------------------------------------

_REQUIRED = {
    "description": str,
    "provider": str,
    "python": str,
    "arch": str,
    "glibc": str,
    "debian": dict,
    "code_root": str,
    "layer_root": str,
    "library_path": list,
}


def _field_error(source: str, name: str, problem: str) -> ProfileError:
    return ProfileError(
        f"Runtime profile {source}: field '{name}' {problem}.",
        "Fix that field (see `fcslim runtimes --json` for complete examples) and run again.",
    )


def profile_from_dict(name: str, raw: Mapping[str, Any], source: str = "built-in") -> Profile:
    """Validate ``raw`` and build a :class:`Profile`; errors name the field."""
    where = source if source != "built-in" else f"'{name}'"
    if not isinstance(raw, Mapping):
        raise ProfileError(f"Runtime profile {where} is not a JSON object.", "Write the profile as a JSON object of fields.")
    for key, kind in _REQUIRED.items():
        if key not in raw:
            raise _field_error(where, key, "is missing")
        if not isinstance(raw[key], kind):
            raise _field_error(where, key, f"must be a {kind.__name__}, not {type(raw[key]).__name__}")
    py = raw["python"]
    if not _VERSION_RE.match(py):
        raise _field_error(where, "python", f"must look like '3.10', not {py!r}")
    python = tuple(int(p) for p in py.split("."))
    if python[0] != 3 or python[1] < 6:
        raise _field_error(where, "python", f"names Python {py}; fcslim targets CPython 3.6 or newer")
    full = raw.get("python_full_version", f"{py}.0")
    if not isinstance(full, str) or not _FULL_VERSION_RE.match(full) or not full.startswith(py + "."):
        raise _field_error(where, "python_full_version", f"must be a version like '{py}.4' matching 'python'")
    impl = raw.get("implementation", "cp")
    if impl != "cp":
        raise _field_error(where, "implementation", f"is {impl!r}; only CPython ('cp') is supported")
    abi = raw.get("abi", f"cp{python[0]}{python[1]}")
    if not isinstance(abi, str) or not re.match(r"^cp\d+t?$", abi):
        raise _field_error(where, "abi", f"must look like 'cp310', not {abi!r}")
    arch = raw["arch"]
    if arch not in SUPPORTED_ARCHES:
        raise _field_error(where, "arch", f"is {arch!r}; use one of {', '.join(SUPPORTED_ARCHES)}")
    if not _VERSION_RE.match(raw["glibc"]):
        raise _field_error(where, "glibc", f"must look like '2.28', not {raw['glibc']!r}")
    glibc = tuple(int(p) for p in raw["glibc"].split("."))
    if glibc[0] != 2 or glibc[1] < 5:
        raise _field_error(where, "glibc", f"is {raw['glibc']}; manylinux needs glibc 2.5 or newer")
    deb = raw["debian"]
    for key in ("release", "mirror"):
        if not isinstance(deb.get(key), str) or not deb.get(key):
            raise _field_error(where, f"debian.{key}", "is missing or not a string")
    if not re.match(r"^(https?|file)://", deb["mirror"]):
        raise _field_error(where, "debian.mirror", f"must be an http(s):// or file:// URL, not {deb['mirror']!r}")
    for key in ("code_root", "layer_root"):
        if not raw[key].startswith("/"):
            raise _field_error(where, key, f"must be an absolute path, not {raw[key]!r}")
    lib_path = raw["library_path"]
    if not all(isinstance(p, str) and p.startswith("/") for p in lib_path):
        raise _field_error(where, "library_path", "must be a list of absolute paths")
    py_path = raw.get("python_path", [raw["code_root"]])
    if not isinstance(py_path, list) or not all(isinstance(p, str) and p.startswith("/") for p in py_path):
        raise _field_error(where, "python_path", "must be a list of absolute paths")
    limits_raw = raw.get("limits", {}) or {}
    if not isinstance(limits_raw, Mapping):
        raise _field_error(where, "limits", "must be an object")
    limits = {}
    for key in LIMIT_FIELDS:
        value = limits_raw.get(key)
        floor = 0 if key == "layers" else 1  # a runtime may allow no layers
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < floor):
            what = "a whole number of layers (0 or more)" if key == "layers" else "a positive number of bytes"
            raise _field_error(where, f"limits.{key}", f"must be {what} or null")
        limits[key] = value
    if limits["disk_bytes"] and limits["disk_bytes_max"] and limits["disk_bytes"] > limits["disk_bytes_max"]:
        raise _field_error(where, "limits.disk_bytes", "is larger than limits.disk_bytes_max")
    unknown = set(limits_raw) - set(limits)
    if unknown:
        raise _field_error(where, "limits", f"has unknown keys {sorted(unknown)}")
    system_image = raw.get("system_image", f"debian{deb.get('version', '')}-minbase")
    if not isinstance(system_image, str):
        raise _field_error(where, "system_image", "must be a string")
    provider_runtime = raw.get("provider_runtime")
    if provider_runtime is not None and (not isinstance(provider_runtime, str) or not provider_runtime):
        raise _field_error(where, "provider_runtime", "must be the provider's runtime name (e.g. 'python3.10') or null")
    return Profile(
        name=name,
        description=raw["description"],
        provider=raw["provider"],
        python=python,  # type: ignore[arg-type]
        python_full_version=full,
        implementation=impl,
        abi=abi,
        arch=arch,
        glibc=glibc,  # type: ignore[arg-type]
        os=raw.get("os", f"Debian {deb.get('version', '')}"),
        debian=DebianSource(
            release=deb["release"],
            version=str(deb.get("version", "")),
            mirror=deb["mirror"].rstrip("/"),
            security_mirror=(deb.get("security_mirror") or None),
        ),
        system_image=system_image,
        code_root=raw["code_root"],
        layer_root=raw["layer_root"],
        python_path=tuple(py_path),
        library_path=tuple(lib_path),
        limits=Limits(**limits),
        source=source,
        provider_runtime=provider_runtime,
    )


def builtin_profiles() -> dict[str, Profile]:
    """All built-in runtimes, by name, in the file's order."""
    raw = json.loads(data_path("runtimes.json").read_text())
    return {name: profile_from_dict(name, body) for name, body in raw["runtimes"].items()}


def load_profile(spec: str | Path | Profile) -> Profile:
    """A built-in runtime by name, or a profile JSON file by path."""
    if isinstance(spec, Profile):
        return spec
    text = str(spec)
    builtins = builtin_profiles()
    if text in builtins:
        return builtins[text]
    path = Path(text).expanduser()
    looks_like_path = path.suffix == ".json" or "/" in text or path.exists()
    if looks_like_path:
        if not path.is_file():
            raise UnknownRuntimeError(
                f"Runtime profile file {text} does not exist.",
                "Pass a built-in runtime name (see `fcslim runtimes`) or the path of a profile JSON file.",
            )
        note_input(path)
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(
                f"Runtime profile {text} is not valid JSON ({exc}).",
                "Fix the file; `fcslim runtimes --json` shows the expected shape.",
            ) from exc
        name = raw.get("name", path.stem) if isinstance(raw, dict) else path.stem
        return profile_from_dict(str(name), raw, source=str(path))
    close = difflib.get_close_matches(text, list(builtins), n=3, cutoff=0.75)
    hint = f"Did you mean {', '.join(close)}? " if close else ""
    raise UnknownRuntimeError(
        f"Unknown runtime '{text}'.",
        f"{hint}Valid runtimes: {', '.join(builtins)}; or pass the path of a profile JSON file.",
    )


def bundle_profile(root: str | Path) -> Profile | None:
    """The profile a bundle was built for, from its ``.fcslim/install.json``
    (written by `fcslim resolve`); None when the bundle has no such record.
    A record that cannot be read as a profile is a :class:`ProfileError`."""
    record = Path(root) / ".fcslim" / "install.json"
    if not record.is_file():
        return None
    try:
        raw = json.loads(record.read_text()).get("profile")
    except (OSError, ValueError, AttributeError) as exc:
        raise ProfileError(f"The bundle record {record} is not readable JSON ({exc}).",
                           "Build the bundle again with `fcslim resolve`, or pass --runtime.") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    body = {k: v for k, v in raw.items() if k not in ("name", "source")}
    source = raw.get("source") if isinstance(raw.get("source"), str) else "built-in"
    return profile_from_dict(raw["name"], body, source=source or "built-in")


def runtime_for(runtime: str | None, root: str | Path | None = None, default: str = "fc-python3.10") -> Profile:
    """``--runtime`` when given, else the runtime in the bundle's own record,
    else ``default``: what every verb that reads a bundle uses."""
    if runtime:
        return load_profile(runtime)
    recorded = bundle_profile(root) if root is not None else None
    return recorded if recorded is not None else load_profile(default)
