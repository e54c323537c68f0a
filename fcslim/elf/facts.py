"""Facts about ELF files, read quickly.

One job: given a file (or a tree), say what the dynamic loader will need to load
it: its machine and class, its SONAME, the libraries it names in DT_NEEDED, its
RUNPATH/RPATH, the symbol versions it requires from each library (GLIBC_2.17,
GLIBCXX_3.4.29, ...) and the versions it defines itself.

ELF files are found by their magic bytes, never by name.  The header and the
program/section header tables are checked against the file's size with a few
``struct`` reads before lief is asked to parse, so a truncated or malformed file
becomes an :class:`ElfFile` with ``error`` set instead of an exception, and a scan
of a whole tree carries on past it.

lief is configured to skip what a load check does not need (symbol tables,
relocations, notes, overlay); only the dynamic section and the symbol-version
tables are parsed, which keeps a 2 MB library well under a millisecond.
"""

from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import lief

ELF_MAGIC = b"\x7fELF"

# Directories a tree scan never enters: fcslim's own records.
SKIPPED_DIRS = frozenset({".fcslim"})

lief.logging.disable()


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


class _BadElf(Exception):
    def __init__(self, reason: str, header: "_Header | None" = None):
        super().__init__(reason)
        self.header = header


def is_elf(path: str | os.PathLike) -> bool:
    """True when the file starts with the ELF magic (reads 4 bytes)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def machine_name(e_machine: int) -> str:
    """lief's name for an ``e_machine`` value ("X86_64", "AARCH64", ...)."""
    try:
        return lief.ELF.ARCH(e_machine).name
    except (ValueError, TypeError):
        return f"EM_{e_machine}"


_FILE_TYPES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}
UNREADABLE = "UNREADABLE"  # the file_type of a file the scan could not read


@dataclass(frozen=True)
class _Header:
    elf_class: int
    machine: str
    file_type: str


def _check_header(path: Path, size: int) -> _Header:
    """Read the ELF header and make sure every table it points at lies inside
    the file; raise :class:`_BadElf` (with the reason) when not."""
    with open(path, "rb") as handle:
        ident = handle.read(16)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            raise _BadElf(f"truncated ELF identification ({size} bytes)")
        ei_class, ei_data = ident[4], ident[5]
        if ei_class not in (1, 2):
            raise _BadElf(f"malformed: invalid ELF class byte {ei_class}")
        if ei_data not in (1, 2):
            raise _BadElf(f"malformed: invalid ELF data-encoding byte {ei_data}")
        end = "<" if ei_data == 1 else ">"
        if ei_class == 2:
            layout, header_size = end + "HHIQQQIHHHHHH", 64
        else:
            layout, header_size = end + "HHIIIIIHHHHHH", 52
        rest = handle.read(header_size - 16)
        if len(rest) < header_size - 16:
            raise _BadElf(f"truncated ELF header ({size} bytes, the header needs {header_size})")
        (e_type, e_machine, _ver, _entry, e_phoff, e_shoff, _flags, _ehsize,
         e_phentsize, e_phnum, e_shentsize, e_shnum, _shstrndx) = struct.unpack(layout, rest)
        elf_class = 64 if ei_class == 2 else 32
        header = _Header(elf_class, machine_name(e_machine), _FILE_TYPES.get(e_type, f"ET_{e_type}"))
        if e_type not in (1, 2, 3, 4):
            raise _BadElf(f"malformed: ELF file type {e_type} is none of REL, EXEC, DYN, CORE", header)
        if e_machine == 0:
            raise _BadElf("malformed: ELF header names no machine (e_machine 0)", header)
        if e_phnum:
            table_end = e_phoff + e_phnum * e_phentsize
            if table_end > size:
                raise _BadElf(f"truncated: program headers end at byte {table_end}, file has {size}", header)
            handle.seek(e_phoff)
            table = handle.read(e_phnum * e_phentsize)
            # p_offset and p_filesz of every segment must lie inside the file.
            if ei_class == 2:
                entry_fmt, offset_at, filesz_at = end + "IIQQQQQQ", 2, 5
            else:
                entry_fmt, offset_at, filesz_at = end + "IIIIIIII", 1, 4
            entry_len = struct.calcsize(entry_fmt)
            if e_phentsize >= entry_len:
                for i in range(e_phnum):
                    fields = struct.unpack_from(entry_fmt, table, i * e_phentsize)
                    p_type = fields[0]
                    if p_type == 0:  # PT_NULL
                        continue
                    seg_end = fields[offset_at] + fields[filesz_at]
                    if seg_end > size:
                        raise _BadElf(
                            f"truncated: segment {i} (type {p_type:#x}) ends at byte {seg_end}, file has {size}",
                            header,
                        )
        if e_shnum:
            table_end = e_shoff + e_shnum * e_shentsize
            if table_end > size:
                raise _BadElf(f"truncated: section headers end at byte {table_end}, file has {size}", header)
    return header


def _relative(path: Path, root: Path | None) -> str:
    if root is None:
        return path.as_posix()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.path.relpath(path, root).replace(os.sep, "/")


def _parser_config() -> "lief.ELF.ParserConfig":
    config = lief.ELF.ParserConfig()
    config.parse_dyn_symbols = False
    config.parse_symtab_symbols = False
    config.parse_relocations = False
    config.parse_notes = False
    config.parse_overlay = False
    config.parse_symbol_versions = True
    return config


_CONFIG = _parser_config()


def _broken(rel: str, size: int, header: _Header | None, error: str) -> ElfFile:
    return ElfFile(
        path=rel,
        size=size,
        machine=header.machine if header else "UNKNOWN",
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
    size = path.stat().st_size
    try:
        header = _check_header(path, size)
    except _BadElf as exc:
        return _broken(rel, size, exc.header, str(exc))
    except struct.error as exc:
        return _broken(rel, size, None, f"malformed ELF header ({exc})")
    try:
        binary = lief.ELF.parse(str(path), _CONFIG)
    except Exception as exc:  # lief raises its own types for odd inputs
        return _broken(rel, size, header, f"malformed: lief could not parse it ({exc})")
    if binary is None:
        return _broken(rel, size, header, "malformed: lief could not parse it")

    soname = None
    needed: list[str] = []
    runpath: list[str] = []
    rpath: list[str] = []
    try:
        for entry in binary.dynamic_entries:
            tag = entry.tag
            if tag == lief.ELF.DynamicEntry.TAG.NEEDED:
                needed.append(entry.name)
            elif tag == lief.ELF.DynamicEntry.TAG.SONAME:
                soname = entry.name
            elif tag == lief.ELF.DynamicEntry.TAG.RUNPATH:
                runpath.extend(_split_paths(entry.runpath))
            elif tag == lief.ELF.DynamicEntry.TAG.RPATH:
                rpath.extend(_split_paths(entry.rpath))
        version_needs = tuple(
            (req.name, tuple(aux.name for aux in req.get_auxiliary_symbols()))
            for req in binary.symbols_version_requirement
        )
        version_defs = tuple(
            aux.name
            for definition in binary.symbols_version_definition
            for aux in definition.auxiliary_symbols
        )
    except Exception as exc:  # a dynamic section lief half-read
        return _broken(rel, size, header, f"malformed dynamic section ({exc})")
    return ElfFile(
        path=rel,
        size=size,
        machine=header.machine,
        elf_class=header.elf_class,
        soname=soname,
        needed=tuple(needed),
        runpath=tuple(runpath),
        rpath=tuple(rpath),
        version_needs=version_needs,
        error=None,
        file_type=header.file_type,
        version_defs=version_defs,
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
                    with open(entry.path, "rb") as handle:
                        magic = handle.read(4)
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
