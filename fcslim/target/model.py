"""Runtime profiles as plain data: the machine a bundle will run on.

A :class:`Profile` is built from ``data/runtimes.json`` (built-in runtimes) or
a user's JSON file by :mod:`fcslim.target.schema`.  Everything that depends on
the target and not on the build host lives here: the ordered wheel tags the
target accepts, the environment-marker values it would report, and where its
code, layers and libraries live.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from packaging import tags as ptags


SUPPORTED_ARCHES = ("x86_64", "aarch64")
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# ELF e_machine names as fcslim.elf.facts reports them (data/elf_machines.json), per profile arch.
ELF_MACHINE = {"x86_64": "X86_64", "aarch64": "AARCH64"}



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
        return replace(self, debian=replace(self.debian, mirror=mirror.rstrip("/")))


def _manylinux_platforms(arch: str, glibc: tuple[int, int]):
    legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
    major, minor = glibc
    for m in range(minor, 4, -1):
        yield f"manylinux_{major}_{m}_{arch}"
        alias = legacy.get((major, m))
        if alias and (arch in ("x86_64", "i686") or alias == "manylinux2014"):
            yield f"{alias}_{arch}"
