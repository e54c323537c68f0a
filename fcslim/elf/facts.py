"""Facts about ELF files, read quickly.

One job: given a file (or a tree), say what the dynamic loader will need to load
it: its machine and class, its SONAME, the libraries it names in DT_NEEDED, its
RUNPATH/RPATH, the symbol versions it requires from each library (GLIBC_2.17,
GLIBCXX_3.4.29, ...) and the versions it defines itself.

ELF files are found by their magic bytes, never by name.  Each is read by
:mod:`fcslim.elf.reader` and :mod:`fcslim.elf.dynamic`, which read the header,
the program headers and the dynamic section's tables with a few seeks (a few
kilobytes of a 600 MiB library, never the whole file; the module docstring of
the reader says why not lief) and check every offset against the file's size,
so a truncated or malformed file becomes an :class:`ElfFile` with ``error`` set
instead of an exception, and a scan of a whole tree carries on past it.
Machine names come from ``data/elf_machines.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from fcslim.core.resources import data_path
from fcslim.elf.dynamic import read_dynamic
from fcslim.elf.reader import ELF_MAGIC, BadElf, ElfReader, Header

# Directories a tree scan never enters: fcslim's own records.
SKIPPED_DIRS = frozenset({".fcslim"})


@dataclass(frozen=True)
class ElfFile:
    """What the dynamic loader needs to know about one ELF file.

    ``path`` is relative to the scanned root (posix separators), or the path as
    given when no root was given.  ``error`` is set (and the link fields may be
    empty) when the file is truncated or cannot be parsed.
    """

    path: str
    size: int
    machine: str
    elf_class: int
    soname: str | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]
    version_needs: tuple[tuple[str, tuple[str, ...]], ...]
    error: str | None = None
    file_type: str = "DYN"
    version_defs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_shared_object(self) -> bool:
        return self.file_type == "DYN"

    @property
    def search_dirs(self) -> tuple[str, ...]:
        """The file's own search directories as the loader uses them:
        DT_RUNPATH when present (DT_RPATH is then ignored), else DT_RPATH."""
        return self.runpath if self.runpath else self.rpath

    def required_versions(self) -> Iterator[tuple[str, str]]:
        """(library soname, version name) pairs, e.g. ("libc.so.6", "GLIBC_2.17")."""
        for library, versions in self.version_needs:
            for version in versions:
                yield library, version

    def to_dict(self) -> dict:
        data = asdict(self)
        data["needed"] = list(self.needed)
        data["runpath"] = list(self.runpath)
        data["rpath"] = list(self.rpath)
        data["version_needs"] = {lib: list(vers) for lib, vers in self.version_needs}
        data["version_defs"] = list(self.version_defs)
        return data


def _magic(path: str) -> bytes:
    """The first 4 bytes (os.open/os.read: a third of open()'s cost, which
    counts when a tree has 16,000 files)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        return os.read(fd, 4)
    finally:
        os.close(fd)


def is_elf(path: str | os.PathLike) -> bool:
    """True when the file starts with the ELF magic (reads 4 bytes)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


@lru_cache(maxsize=1)
def _machine_names() -> dict[int, str]:
    raw = json.loads(data_path("elf_machines.json").read_text())
    return {int(value): name for value, name in raw["machines"].items()}


def machine_name(e_machine: int) -> str:
    """The name of an ``e_machine`` value ("X86_64", "AARCH64", ...; EM_<n> when unlisted)."""
    return _machine_names().get(e_machine, f"EM_{e_machine}")


UNREADABLE = "UNREADABLE"  # the file_type of a file the scan could not read


def _relative(path: Path, root: Path | None) -> str:
    if root is None:
        return path.as_posix()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.path.relpath(path, root).replace(os.sep, "/")


def _broken(rel: str, size: int, header: Header | None, error: str) -> ElfFile:
    return ElfFile(
        path=rel,
        size=size,
        machine=machine_name(header.e_machine) if header else "UNKNOWN",
        elf_class=header.elf_class if header else 0,
        soname=None,
        needed=(),
        runpath=(),
        rpath=(),
        version_needs=(),
        error=error,
        file_type=header.file_type if header else "UNKNOWN",
    )


def _split_paths(value: str) -> tuple[str, ...]:
    return tuple(p for p in value.split(":") if p)


def read_elf(path: str | os.PathLike, root: str | os.PathLike | None = None) -> ElfFile:
    """Read one ELF file.  Never raises for a bad file: a truncated or malformed
    one comes back with ``error`` set.  ``OSError`` (unreadable file) does raise."""
    path = Path(path)
    root_path = Path(root) if root is not None else None
    rel = _relative(path, root_path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            reader = ElfReader(handle, size)
        except BadElf as exc:
            return _broken(rel, size, exc.header, str(exc))
        header = reader.header
        try:
            dynamic = read_dynamic(reader)
        except BadElf as exc:
            return _broken(rel, size, header, str(exc))
    return ElfFile(
        path=rel,
        size=size,
        machine=machine_name(header.e_machine),
        elf_class=header.elf_class,
        soname=dynamic.soname,
        needed=dynamic.needed,
        runpath=tuple(p for value in dynamic.runpath for p in _split_paths(value)),
        rpath=tuple(p for value in dynamic.rpath for p in _split_paths(value)),
        version_needs=dynamic.version_needs,
        error=None,
        file_type=header.file_type,
        version_defs=dynamic.version_defs,
    )


def iter_elf_paths(root: str | os.PathLike, unreadable: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Every regular ELF file under ``root`` (symlinks are not followed and not
    yielded: their targets are scanned once, under their own name).  Files and
    directories that cannot be read are appended to ``unreadable`` as (path,
    reason) when it is given: nothing is skipped silently."""
    stack = [Path(root)]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            if unreadable is not None:
                unreadable.append((directory, exc.strerror or str(exc)))
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if directory == Path(root) and entry.name in SKIPPED_DIRS:
                    continue
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                try:
                    magic = _magic(entry.path)
                except OSError as exc:
                    if unreadable is not None:
                        unreadable.append((Path(entry.path), exc.strerror or str(exc)))
                    continue
                if magic == ELF_MAGIC:
                    yield Path(entry.path)


def unreadable_file(path: Path, root: Path, reason: str) -> ElfFile:
    """The entry for a file (or directory) the scan could not read: whether it
    would load cannot be told, so it counts as a problem of kind ``unreadable``."""
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    broken = _broken(_relative(path, root), size, None, f"cannot be read ({reason})")
    return replace(broken, file_type=UNREADABLE)


def scan_tree(root: str | os.PathLike) -> list[ElfFile]:
    """Every ELF file under ``root``, sorted by relative path, and an
    :data:`UNREADABLE` entry for each file or directory that could not be read."""
    root_path = Path(root)
    problems: list[tuple[Path, str]] = []
    files = []
    for path in iter_elf_paths(root_path, problems):
        try:
            files.append(read_elf(path, root_path))
        except OSError as exc:
            problems.append((path, exc.strerror or str(exc)))
    files.extend(unreadable_file(path, root_path, reason) for path, reason in problems)
    files.sort(key=lambda f: f.path)
    return files
