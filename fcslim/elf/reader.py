"""The few parts of an ELF file a load check needs, read with seek and read.

One job: give bounded, checked access to an open ELF file of either class and
byte order: its header (checked: class, data encoding, type, machine, tables
inside the file), its program headers, its section headers, NUL-terminated
strings and dynamic entries.  What the dynamic section means is
:mod:`fcslim.elf.dynamic`'s job.  Every offset and length is checked against
the file before it is read: a truncated or malformed file raises
:class:`BadElf` with the reason and never reads past the end.

Why not a library: this used to be lief, which reads each file whole before
parsing it (libtensorflow_cc.so.2 is 600+ MiB).  On the TensorFlow set's 209
ELF files (1.27 GiB), lief took 1.3 s with a peak of 837 MiB; pyelftools,
which reads lazily, 0.61 s and 32 MiB (it builds generic structures for every
table it walks); this reader, which touches a few KiB per file, 0.04 s and
17 MiB (medians of 3, ``bench/bench_elf_readers.py``).  The format is small
and fixed: ELF gABI and System V ABI, and the LSB's "Symbol Versioning"
chapter for the GNU version tables.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import BinaryIO, Iterator

ELF_MAGIC = b"\x7fELF"

# Program header, section and dynamic tags this reader uses (ELF gABI, LSB).
PT_NULL, PT_LOAD, PT_DYNAMIC = 0, 1, 2
SHT_STRTAB, SHT_DYNAMIC, SHT_NOBITS = 3, 6, 8
SHT_GNU_VERDEF, SHT_GNU_VERNEED = 0x6FFFFFFD, 0x6FFFFFFE
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
PN_XNUM = 0xFFFF  # e_phnum when the real count is in section 0's sh_info
SHN_XINDEX = 0xFFFF  # e_shstrndx when the real index is in section 0's sh_link

_FILE_TYPES = {1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}
_DYN_CHUNK = 4096  # dynamic entries are read this many bytes at a time
_STRING_CHUNK = 256
_MAX_STRING = 1 << 16  # a name or search path longer than this is malformed


@dataclass(frozen=True)
class Header:
    elf_class: int  # 32 or 64
    order: str  # struct's byte order: "<" or ">"
    e_type: int
    e_machine: int
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int
    shstrndx: int = 0

    @property
    def file_type(self) -> str:
        return _FILE_TYPES.get(self.e_type, "NONE" if self.e_type == 0 else f"ET_{self.e_type}")


@dataclass(frozen=True)
class Segment:
    p_type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int = 0
    flags: int = 0
    align: int = 0


@dataclass(frozen=True)
class Section:
    """One section header, every field (ELF32 and ELF64 hold the same ten)."""

    sh_type: int
    addr: int
    offset: int
    size: int
    link: int
    name: int = 0  # offset of its name in the section-name string table
    flags: int = 0
    info: int = 0
    addralign: int = 0
    entsize: int = 0

    def fields(self) -> tuple[int, ...]:
        """The header's fields in file order."""
        return (self.name, self.sh_type, self.flags, self.addr, self.offset, self.size, self.link, self.info,
                self.addralign, self.entsize)


class BadElf(Exception):
    """Not a well-formed ELF file; ``header`` is set when the header was read."""

    def __init__(self, reason: str, header: Header | None = None):
        super().__init__(reason)
        self.header = header



class ElfReader:
    """One ELF file through an open binary handle of known size.  The header
    is read and checked on construction (:class:`BadElf` when it is bad)."""

    def __init__(self, handle: BinaryIO, size: int):
        self.handle = handle
        self.size = size
        self.partial: Header | None = None  # the header as read, before its checks passed
        self.header = self._read_header()

    def bad(self, reason: str) -> BadElf:
        return BadElf(reason, self.partial)

    def read(self, offset: int, length: int, what: str) -> bytes:
        end = offset + length
        if offset < 0 or length < 0 or end > self.size:
            raise self.bad(f"truncated: {what} at bytes {offset}-{end}, file has {self.size}")
        self.handle.seek(offset)
        data = self.handle.read(length)
        if len(data) != length:
            raise self.bad(f"truncated: {what} at bytes {offset}-{end}, the file ended at {offset + len(data)}")
        return data

    def unpack(self, layout: str, offset: int, what: str) -> tuple[int, ...]:
        fmt = self.header.order + layout
        return struct.unpack(fmt, self.read(offset, struct.calcsize(fmt), what))

    # -- the header

    def _read_header(self) -> Header:
        self.handle.seek(0)
        ident = self.handle.read(16)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            raise BadElf(f"truncated ELF identification ({self.size} bytes)")
        ei_class, ei_data = ident[4], ident[5]
        if ei_class not in (1, 2):
            raise BadElf(f"malformed: invalid ELF class byte {ei_class}")
        if ei_data not in (1, 2):
            raise BadElf(f"malformed: invalid ELF data-encoding byte {ei_data}")
        order = "<" if ei_data == 1 else ">"
        layout = order + ("HHIQQQIHHHHHH" if ei_class == 2 else "HHIIIIIHHHHHH")
        rest = self.handle.read(struct.calcsize(layout))
        if len(rest) < struct.calcsize(layout):
            need = 16 + struct.calcsize(layout)
            raise BadElf(f"truncated ELF header ({self.size} bytes, the header needs {need})")
        (e_type, e_machine, _version, _entry, phoff, shoff, _flags, _ehsize,
         phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack(layout, rest)
        header = self.partial = Header(64 if ei_class == 2 else 32, order, e_type, e_machine,
                                       phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx)
        if e_type not in _FILE_TYPES:
            raise self.bad(f"malformed: ELF file type {e_type} is none of REL, EXEC, DYN, CORE")
        if e_machine == 0:
            raise self.bad("malformed: ELF header names no machine (e_machine 0)")
        if phnum == PN_XNUM or (shnum == 0 and shoff) or shstrndx == SHN_XINDEX:
            header = self.partial = self._extended_counts(header)
        phend = header.phoff + header.phnum * header.phentsize
        if header.phnum and phend > self.size:
            raise self.bad(f"truncated: program headers end at byte {phend}, file has {self.size}")
        shend = header.shoff + header.shnum * header.shentsize
        if header.shnum and shend > self.size:
            raise self.bad(f"truncated: section headers end at byte {shend}, file has {self.size}")
        return header

    def _extended_counts(self, header: Header) -> Header:
        """Counts too large for the header live in section 0 (gABI extended
        numbering).  A section 0 that cannot be read only matters when the
        segment count is there: section counts are only used for fallbacks."""
        try:
            first = next(self._section_rows(header, header.shoff, 1), None)
        except BadElf:
            first = None
        if first is None:
            if header.phnum == PN_XNUM:
                raise self.bad("malformed: the segment count is in section 0, which cannot be read")
            return replace(header, shstrndx=0 if header.shstrndx == SHN_XINDEX else header.shstrndx)
        return replace(header, phnum=first.info if header.phnum == PN_XNUM else header.phnum,
                       shnum=first.size if header.shnum == 0 else header.shnum,
                       shstrndx=first.link if header.shstrndx == SHN_XINDEX else header.shstrndx)

    # -- program and section headers

    def segments(self) -> list[Segment]:
        """Every program header but PT_NULL, each checked to lie inside the file."""
        header = self.header
        if not header.phnum:
            return []
        wide = header.elf_class == 64
        entry = header.order + ("IIQQQQQQ" if wide else "IIIIIIII")
        at_offset, at_vaddr, at_filesz, at_memsz, at_flags, at_align = (2, 3, 5, 6, 1, 7) if wide else (1, 2, 4, 5, 6, 7)
        if header.phentsize < struct.calcsize(entry):
            raise self.bad(f"malformed: program header entries of {header.phentsize} bytes "
                           f"(ELF{header.elf_class} needs {struct.calcsize(entry)})")
        table = self.read(header.phoff, header.phnum * header.phentsize, "program headers")
        found = []
        for i in range(header.phnum):
            fields = struct.unpack_from(entry, table, i * header.phentsize)
            if fields[0] == PT_NULL:
                continue
            segment = Segment(fields[0], fields[at_offset], fields[at_vaddr], fields[at_filesz], fields[at_memsz],
                              fields[at_flags], fields[at_align])
            if segment.offset + segment.filesz > self.size:
                raise self.bad(f"truncated: segment {i} (type {segment.p_type:#x}) ends at byte "
                               f"{segment.offset + segment.filesz}, file has {self.size}")
            found.append(segment)
        return found

    def _section_rows(self, header: Header, start: int, count: int) -> Iterator[Section]:
        """``count`` section headers from byte ``start``, read a few KiB at a time."""
        entry = header.order + ("IIQQQQIIQQ" if header.elf_class == 64 else "IIIIIIIIII")
        if not start or header.shentsize < struct.calcsize(entry):
            return
        per_read = max(1, _DYN_CHUNK // header.shentsize)
        for first in range(0, count, per_read):
            n = min(per_read, count - first)
            table = self.read(start + first * header.shentsize, n * header.shentsize, "section headers")
            for i in range(n):
                name, sh_type, flags, addr, offset, size, link, info, align, entsize = struct.unpack_from(
                    entry, table, i * header.shentsize)
                yield Section(sh_type, addr, offset, size, link, name, flags, info, align, entsize)

    def sections(self) -> list[Section]:
        """Every section header, in order (index i is section i)."""
        return list(self._section_rows(self.header, self.header.shoff, self.header.shnum))

    # -- strings and tables

    def string(self, offset: int, end: int, what: str) -> str:
        """The NUL-terminated string at ``offset``, which must end before ``end``."""
        end = min(end, self.size)
        if offset < 0 or offset >= end:
            raise self.bad(f"malformed: {what} points at byte {offset}, outside its string table")
        parts = []
        position = offset
        while True:
            chunk = self.read(position, min(_STRING_CHUNK, end - position), what)
            nul = chunk.find(b"\0")
            if nul >= 0:
                parts.append(chunk[:nul])
                break
            parts.append(chunk)
            position += len(chunk)
            if position >= end or position - offset > _MAX_STRING:
                raise self.bad(f"malformed: {what} at byte {offset} is not terminated inside its string table")
        try:
            return b"".join(parts).decode("utf-8")
        except UnicodeDecodeError:
            raise self.bad(f"malformed: {what} at byte {offset} is not UTF-8") from None

    def dynamic_entries(self, offset: int, size: int) -> Iterator[tuple[int, int]]:
        """(tag, value) pairs of the dynamic table at ``offset``, up to DT_NULL."""
        entry = self.header.order + ("qQ" if self.header.elf_class == 64 else "iI")
        width = struct.calcsize(entry)
        end = offset + size - size % width
        position = offset
        while position < end:
            chunk = self.read(position, min(_DYN_CHUNK, end - position), "dynamic section")
            for tag, value in struct.iter_unpack(entry, chunk):
                if tag == DT_NULL:
                    return
                yield tag, value
            position += len(chunk)
