"""Sdists: refuse, before building, one that compiles native code.

fcslim builds only pure-Python sdists (``--allow-pure-sdist``): a native build
on the build host would not match the target.  The sdist is read from the
index and its members inspected; the wheel built from it is checked again after
installing (:mod:`fcslim.resolve.installed`).
"""

from __future__ import annotations

import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Sequence

from fcslim.core.errors import NativeSdistError, NetworkError
from fcslim.resolve.diagnose import group_by_version
from fcslim.resolve.index import Sources, download_file, index_files
from fcslim.target.profile import Profile

_NATIVE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".f", ".f90", ".cu", ".go", ".m")
_NATIVE_FILES = ("Cargo.toml", "CMakeLists.txt", "meson.build")


def native_sources(archive: BinaryIO, filename: str) -> list[str]:
    """Members of an sdist (an open file) that mean it compiles native code."""
    names: list[str] = []
    setup_text = ""
    if filename.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            setup = [n for n in names if n.count("/") <= 1 and n.endswith("setup.py")]
            if setup:
                setup_text = zf.read(setup[0]).decode("utf-8", "replace")
    else:
        with tarfile.open(fileobj=archive, mode="r:*") as tf:
            members = tf.getmembers()
            names = [m.name for m in members]
            setup = [m for m in members if m.name.count("/") <= 1 and m.name.endswith("setup.py")]
            if setup:
                handle = tf.extractfile(setup[0])
                setup_text = handle.read().decode("utf-8", "replace") if handle else ""
    native = [n for n in names if n.endswith(_NATIVE_SUFFIXES) or n.rsplit("/", 1)[-1] in _NATIVE_FILES]
    if "ext_modules" in setup_text or "Extension(" in setup_text:
        native.append("setup.py (ext_modules)")
    return native


def check_sdists_pure(names: Sequence[str], sources: Sources, profile: Profile, timeout: float) -> None:
    """Refuse (before building) any sdist among ``names`` that carries native code."""
    for name in names:
        files, _unreadable = index_files(name, sources, timeout)
        groups = [g for g in group_by_version(files) if g.sdists]
        if not groups:
            continue
        sdist = groups[0].sdists[0]
        try:
            with tempfile.TemporaryDirectory(prefix="fcslim-sdist-") as tmp:  # on disk, not in memory
                download_file(sdist, Path(tmp) / "sdist", timeout)
                with open(Path(tmp) / "sdist", "rb") as archive:
                    native = native_sources(archive, sdist.filename)
        except (OSError, NetworkError, tarfile.TarError, zipfile.BadZipFile):
            continue  # the built wheel is checked for purity after installing
        if native:
            shown = ", ".join(native[:4]) + (" …" if len(native) > 4 else "")
            raise NativeSdistError(
                f"{name} has no wheel for {profile.name} and its sdist {sdist.filename} compiles native code "
                f"({shown}); fcslim builds only pure-Python sdists, because a native build on this host "
                "would not match the target.",
                f"Use a version of {name} that publishes a manylinux wheel for {profile.python_version} "
                f"{profile.arch}, or build the wheel in a manylinux container for glibc {profile.glibc_version} "
                "and pass its directory with --find-links.",
            )
