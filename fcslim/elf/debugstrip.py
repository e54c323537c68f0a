"""An ELF file without the bytes of its debug sections, copied in bounded chunks.

One job: write a copy of a shared object or executable whose ``.debug_*`` and
``.zdebug_*`` sections hold no bytes.  Their headers stay, turned into empty
SHT_NOBITS sections (as ``objcopy --only-keep-debug`` does to the others), so
every section keeps its index and nothing that names a section by index
(symbols, links) changes.  The bytes up to the end of the last segment are
copied unchanged but for the header's e_shoff (where the section headers now
start, a field the loader never reads), so the program headers and every byte
the loader uses are the same by construction; the sections after them that are kept (``.symtab``,
``.strtab``, ``.shstrtab``...) move down, and the section header table is
written last.  A file with a debug section before the end of a segment (patchelf
appends segments after them), or one a kept section refers to, is left alone
with the reason: moving loaded bytes is what broke patchelf-rewritten libraries
stripped by other tools.

Why not binutils' ``strip --strip-debug``, which fcslim ran before: it reads
the whole file into memory (702 MiB of RSS for libtensorflow_cc.so.2, 687 MiB,
to remove 2.2 MiB of debug sections), rewrites the layout (30 of the
TensorFlow set's libraries came out with other program headers, so fcslim
left them unstripped), and needs a cross ``strip`` for another architecture.
This copy reads 1 MiB at a time and works for any machine, class and byte order.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from fcslim.elf.reader import SHT_NOBITS, BadElf, ElfReader, Section

DEBUG_PREFIXES = (".debug_", ".zdebug_")
SHF_INFO_LINK = 0x40
_CHUNK = 1 << 20
_SMALL_TABLE = 1 << 16
_ET_EXEC, _ET_DYN = 2, 3


@dataclass(frozen=True)
class _Plan:
    sections: list[Section]
    debug: frozenset[int]  # indices of the sections whose bytes go
    mapped_end: int  # bytes copied as they are
    moved: list[int]  # indices of kept sections after mapped_end, by offset


def section_names(reader: ElfReader, sections: list[Section]) -> list[str]:
    """Each section's name ("" when the file has no section-name table)."""
    index = reader.header.shstrndx
    if not 0 < index < len(sections):
        return [""] * len(sections)
    table = sections[index]
    if table.size <= _SMALL_TABLE:  # the usual case: a few hundred bytes, read once
        names = reader.read(table.offset, table.size, "the section-name table")
        found = []
        for section in sections:
            end = names.find(b"\0", section.name)
            if section.name >= len(names) or end < 0:
                raise reader.bad(f"malformed: a section name at byte {section.name} is outside its string table")
            found.append(names[section.name:end].decode("utf-8", errors="replace"))
        return found
    return [reader.string(table.offset + s.name, table.offset + table.size, "a section name") for s in sections]


def debug_bytes(reader: ElfReader) -> int:
    """Bytes the file's debug sections take."""
    sections = reader.sections()
    return sum(s.size for s, name in zip(sections, section_names(reader, sections))
               if name.startswith(DEBUG_PREFIXES) and s.sh_type != SHT_NOBITS)


def _plan(reader: ElfReader) -> _Plan | str:
    header = reader.header
    if header.e_type not in (_ET_EXEC, _ET_DYN):
        return f"a {header.file_type} file: only shared objects and executables are stripped"
    entry = struct.calcsize("IIQQQQIIQQ" if header.elf_class == 64 else "IIIIIIIIII")
    if header.shentsize != entry:
        return f"section headers of {header.shentsize} bytes (ELF{header.elf_class} has {entry}); left as it was"
    sections = reader.sections()
    names = section_names(reader, sections)
    debug = frozenset(i for i, (s, name) in enumerate(zip(sections, names))
                      if name.startswith(DEBUG_PREFIXES) and s.sh_type != SHT_NOBITS and s.size)
    if not debug:
        return "no debug sections"
    segments = reader.segments()
    mapped_end = max([s.offset + s.filesz for s in segments] +
                     [64 if header.elf_class == 64 else 52, header.phoff + header.phnum * header.phentsize])
    moved = []
    for i, section in enumerate(sections):
        end = section.offset + section.size
        has_bytes = section.sh_type != SHT_NOBITS and section.size > 0
        if has_bytes and end > reader.size:
            raise reader.bad(f"truncated: section {names[i] or i} ends at byte {end}, file has {reader.size}")
        if i in debug:
            if section.offset < mapped_end:
                return (f"{names[i]} lies before the end of a loaded segment (one added after it, as patchelf "
                        "does); left as it was")
            continue
        if section.link in debug or (section.flags & SHF_INFO_LINK and section.info in debug):
            return f"{names[i] or i} refers to a debug section; left as it was"
        if has_bytes and section.offset < mapped_end < end:
            return f"{names[i] or i} straddles the end of the loaded segments; left as it was"
        if has_bytes and section.offset >= mapped_end:
            moved.append(i)
    moved.sort(key=lambda i: sections[i].offset)
    return _Plan(sections, debug, mapped_end, moved)


def _copy(source: BinaryIO, offset: int, length: int, out: BinaryIO) -> None:
    source.seek(offset)
    while length:
        chunk = source.read(min(_CHUNK, length))
        if not chunk:
            raise OSError(f"the file ended {length} bytes early while copying it")
        out.write(chunk)
        length -= len(chunk)


def _write(reader: ElfReader, plan: _Plan, out: BinaryIO) -> None:
    header = reader.header
    _copy(reader.handle, 0, plan.mapped_end, out)
    position = plan.mapped_end
    offsets: dict[int, int] = {}
    for i in plan.moved:
        section = plan.sections[i]
        pad = -position % max(1, section.addralign)
        out.write(bytes(pad))
        position += pad
        _copy(reader.handle, section.offset, section.size, out)
        offsets[i] = position
        position += section.size
    pad = -position % 8
    out.write(bytes(pad))
    shoff = position + pad
    layout = header.order + ("IIQQQQIIQQ" if header.elf_class == 64 else "IIIIIIIIII")
    for i, section in enumerate(plan.sections):
        if i in plan.debug:
            section = replace(section, sh_type=SHT_NOBITS, offset=shoff, size=0)
        elif i in offsets:
            section = replace(section, offset=offsets[i])
        out.write(struct.pack(layout, *section.fields()))
    out.seek(0x28 if header.elf_class == 64 else 0x20)  # e_shoff
    out.write(struct.pack(header.order + ("Q" if header.elf_class == 64 else "I"), shoff))


def strip_debug(src: str | os.PathLike, dest: str | os.PathLike) -> str | None:
    """Write ``src`` without its debug sections' bytes to ``dest``: None when
    done, else why not (and ``dest`` is not written)."""
    dest = Path(dest)
    with open(src, "rb") as handle:
        try:
            reader = ElfReader(handle, os.fstat(handle.fileno()).st_size)
            plan = _plan(reader)
        except BadElf as exc:
            return f"not an ELF file strip can rewrite ({exc})"
        if isinstance(plan, str):
            return plan
        try:
            with open(dest, "wb") as out:
                _write(reader, plan, out)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
    return None
