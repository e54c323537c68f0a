"""Build tiny wheels and sdists for offline resolver tests.

Each artifact is real enough for pip and uv: a wheel has METADATA (with
``Requires-Dist`` markers and ``Requires-Python``), WHEEL (with its tags) and a
RECORD of sha256 hashes; an sdist has PKG-INFO and a pyproject.toml whose build
backend lives inside the sdist itself, so building it needs no index.

    links = tmp / "links"
    build_wheel(links, "alpha", "1.0")                                   # py3-none-any
    build_wheel(links, "fast", "2.0", tags=["cp310-cp310-manylinux_2_28_x86_64"])
    build_wheel(links, "newglibc", "1.0", tags=["cp310-cp310-manylinux_2_34_x86_64"])
    build_wheel(links, "stable", "1.0", tags=["cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64"])
    build_wheel(links, "needs", "1.0",
                requires_dist=['alpha>=1', 'backport; python_version < "3.11"'],
                requires_python=">=3.9")
    build_sdist(links, "puresrc", "1.0")            # pure Python, builds offline
    build_sdist(links, "nativesrc", "1.0", native=True)   # carries a C extension

``tags`` accepts compressed tag sets as they appear in wheel file names
(``cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64``).  Every function
returns the path of the file it wrote into the find-links directory.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

# A fixed timestamp keeps every artifact byte-for-byte reproducible.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_TAR_MTIME = 1577836800


def _module_name(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def _dist_name(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _metadata(name: str, version: str, requires_dist: Sequence[str], requires_python: str | None,
              summary: str) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    extras = sorted({r.split("extra ==")[1].strip().strip("'\"").split()[0].strip("'\"")
                     for r in requires_dist if "extra ==" in r})
    for extra in extras:
        lines.append(f"Provides-Extra: {extra}")
    lines.extend(f"Requires-Dist: {req}" for req in requires_dist)
    return "\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class WheelSpec:
    """What one tiny wheel holds."""

    name: str
    version: str
    tags: Sequence[str] = ("py3-none-any",)
    requires_dist: Sequence[str] = ()
    requires_python: str | None = None
    files: Mapping[str, bytes | str] = field(default_factory=dict)
    build: str | None = None

    @property
    def is_pure(self) -> bool:
        return all(t.abi == "none" and t.platform == "any" for tag in self.tags for t in parse_tag(tag))

    def filename(self) -> str:
        tag = _compress_tags(self.tags)
        build = f"-{self.build}" if self.build else ""
        return f"{_dist_name(self.name)}-{self.version}{build}-{tag}.whl"


def _compress_tags(tags: Sequence[str]) -> str:
    """``["cp310-cp310-a", "cp310-cp310-b"]`` → ``cp310-cp310-a.b`` (file-name form)."""
    if len(tags) == 1:
        return tags[0]
    parsed = [t for tag in tags for t in parse_tag(tag)]
    pys = sorted({t.interpreter for t in parsed})
    abis = sorted({t.abi for t in parsed})
    plats = sorted({t.platform for t in parsed})
    return f"{'.'.join(pys)}-{'.'.join(abis)}-{'.'.join(plats)}"


def wheel_bytes(spec: WheelSpec) -> bytes:
    """The bytes of the wheel ``spec`` describes."""
    module = _module_name(spec.name)
    dist_info = f"{_dist_name(spec.name)}-{spec.version}.dist-info"
    files: dict[str, bytes] = {
        f"{module}/__init__.py": (
            f'"""Tiny test package {spec.name}."""\n__version__ = "{spec.version}"\n'
        ).encode(),
    }
    for path, content in spec.files.items():
        files[path] = content.encode() if isinstance(content, str) else content
    files[f"{dist_info}/METADATA"] = _metadata(
        spec.name, spec.version, spec.requires_dist, spec.requires_python, "tiny test wheel"
    ).encode()
    tag_lines = "".join(f"Tag: {t}\n" for tag in spec.tags for t in sorted(map(str, parse_tag(tag))))
    files[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: fcslim-tests\n"
        f"Root-Is-Purelib: {'true' if spec.is_pure else 'false'}\n{tag_lines}"
    ).encode()
    files[f"{dist_info}/top_level.txt"] = f"{module}\n".encode()
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buffer.getvalue()


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    tags: Sequence[str] = ("py3-none-any",),
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    files: Mapping[str, bytes | str] | None = None,
) -> Path:
    """Write one wheel into ``directory`` and return its path."""
    spec = WheelSpec(name, version, tuple(tags), tuple(requires_dist), requires_python, dict(files or {}))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / spec.filename()
    path.write_bytes(wheel_bytes(spec))
    return path


# -- sdists -------------------------------------------------------------------

# A PEP 517 backend small enough to ship inside each sdist (``backend-path``),
# so building needs nothing from an index.  It packages ``<module>/`` as a
# py3-none-any wheel.
_IN_TREE_BACKEND = '''\
import base64, hashlib, os, zipfile

NAME = {name!r}
VERSION = {version!r}
MODULE = {module!r}
DIST = {dist!r}
METADATA = {metadata!r}


def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, DIST + "-" + VERSION + ".dist-info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w") as fh:
        fh.write(METADATA)
    with open(os.path.join(info, "WHEEL"), "w") as fh:
        fh.write("Wheel-Version: 1.0\\nGenerator: tiny-backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
    return os.path.basename(info)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = DIST + "-" + VERSION + ".dist-info"
    files = {{}}
    for root, _dirs, names in os.walk(MODULE):
        for n in sorted(names):
            p = os.path.join(root, n)
            with open(p, "rb") as fh:
                files[p.replace(os.sep, "/")] = fh.read()
    files[info + "/METADATA"] = METADATA.encode()
    files[info + "/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: tiny-backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    record = "".join("%s,%s,%d\\n" % (p, _hash(d), len(d)) for p, d in files.items()) + info + "/RECORD,,\\n"
    files[info + "/RECORD"] = record.encode()
    name = DIST + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
    return name
'''

_NATIVE_SETUP = '''\
from setuptools import Extension, setup

setup(ext_modules=[Extension({module!r} + "._speedups", [{module!r} + "/_speedups.c"])])
'''


def sdist_bytes(name: str, version: str, *, native: bool = False, requires_dist: Sequence[str] = (),
                requires_python: str | None = None) -> bytes:
    """The bytes of a ``.tar.gz`` sdist; ``native`` adds a C extension."""
    module = _module_name(name)
    dist = _dist_name(name)
    root = f"{dist}-{version}"
    metadata = _metadata(name, version, requires_dist, requires_python, "tiny test sdist")
    files: dict[str, bytes] = {
        f"{root}/PKG-INFO": metadata.encode(),
        f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    files = {(k if k.startswith(root) else f"{root}/{k}"): v for k, v in files.items()}
    if native:
        files[f"{root}/{module}/_speedups.c"] = b"int speedup(void) { return 1; }\n"
        files[f"{root}/setup.py"] = _NATIVE_SETUP.format(module=module).encode()
        files[f"{root}/pyproject.toml"] = (
            b'[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
            + f'\n[project]\nname = "{name}"\nversion = "{version}"\n'.encode()
        )
    else:
        files[f"{root}/tiny_backend.py"] = _IN_TREE_BACKEND.format(
            name=name, version=version, module=module, dist=dist, metadata=metadata
        ).encode()
        files[f"{root}/pyproject.toml"] = (
            b'[build-system]\nrequires = []\nbuild-backend = "tiny_backend"\nbackend-path = ["."]\n'
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_sdist(directory: Path, name: str, version: str, *, native: bool = False,
                requires_dist: Sequence[str] = (), requires_python: str | None = None) -> Path:
    """Write one sdist into ``directory`` and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_dist_name(name)}-{version}.tar.gz"
    path.write_bytes(sdist_bytes(name, version, native=native, requires_dist=requires_dist,
                                 requires_python=requires_python))
    return path


def build_find_links(directory: Path, specs: Iterable[WheelSpec]) -> list[Path]:
    """Write every wheel in ``specs`` into ``directory``."""
    return [
        build_wheel(directory, s.name, s.version, tags=s.tags, requires_dist=s.requires_dist,
                    requires_python=s.requires_python, files=s.files)
        for s in specs
    ]


# -- a ready-made find-links set -------------------------------------------------

SAMPLE_WHEELS: tuple[WheelSpec, ...] = (
    WheelSpec("alpha", "1.0"),
    WheelSpec("alpha", "2.0"),
    # a dependency only Pythons before 3.11 need (like aiohttp → async-timeout)
    WheelSpec("needs-backport", "1.0",
              requires_dist=("alpha>=1", 'backport; python_version < "3.11"', 'winonly; sys_platform == "win32"'),
              requires_python=">=3.8"),
    WheelSpec("backport", "1.0"),
    WheelSpec("winonly", "1.0"),
    # newest release dropped 3.10 (like pycparser 3 → 2.23 for Python 3.9)
    WheelSpec("modern", "1.0", requires_python=">=3.8"),
    WheelSpec("modern", "2.0", requires_python=">=3.11"),
    # cp-specific wheels for one Python only
    WheelSpec("cponly", "1.0", tags=("cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64",)),
    # a newer glibc than most runtimes have
    WheelSpec("newglibc", "1.0", tags=("cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",)),
    WheelSpec("newglibc", "2.0", tags=("cp38-abi3-manylinux_2_34_x86_64",)),
    WheelSpec("glibc228", "1.0", tags=("cp310-cp310-manylinux_2_28_x86_64",)),
    WheelSpec("stable", "1.0", tags=("cp38-abi3-manylinux_2_28_x86_64", "cp38-abi3-manylinux_2_28_aarch64")),
    WheelSpec("armonly", "1.0", tags=("cp310-cp310-manylinux_2_17_aarch64.manylinux2014_aarch64",)),
)


def sample_find_links(directory: Path) -> Path:
    """Write :data:`SAMPLE_WHEELS` plus a pure and a native sdist into ``directory``."""
    directory = Path(directory)
    build_find_links(directory, SAMPLE_WHEELS)
    build_sdist(directory, "puresrc", "1.0")
    build_sdist(directory, "nativesrc", "1.0", native=True)
    return directory
