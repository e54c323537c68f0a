"""What an ELF file's dynamic section tells the loader, from :mod:`fcslim.elf.reader`.

One job: turn the dynamic entries into names.  DT_NEEDED, DT_SONAME,
DT_RUNPATH and DT_RPATH are offsets into the dynamic string table (DT_STRTAB,
DT_STRSZ long); DT_VERNEED (DT_VERNEEDNUM entries) lists, per library, the
version names the file requires; DT_VERDEF (DT_VERDEFNUM entries) the version
names it defines, the base one (its own name) first.  These are virtual
addresses: the PT_LOAD segment holding an address gives its file offset.  A
table no segment holds is looked up in the section headers instead (the
string table the SHT_DYNAMIC section links, SHT_GNU_verneed, SHT_GNU_verdef).
The dynamic table itself is PT_DYNAMIC's: a file without that segment has no
dynamic section for the loader whatever its section headers say (ld.so,
``readelf -d`` and lief all read it so).
Structures follow the LSB's "Symbol Versioning" chapter; every ``next``
link is followed at most :data:`MAX_ENTRIES` times, so a cycle is an error,
not a hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from fcslim.elf.reader import (
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    DT_STRTAB,
    DT_VERDEF,
    DT_VERDEFNUM,
    DT_VERNEED,
    DT_VERNEEDNUM,
    PT_DYNAMIC,
    PT_LOAD,
    SHT_DYNAMIC,
    SHT_GNU_VERDEF,
    SHT_GNU_VERNEED,
    SHT_NOBITS,
    SHT_STRTAB,
    ElfReader,
    Section,
    Segment,
)

MAX_ENTRIES = 1 << 16  # version entries of one file, all tables together
_STRING_TAGS = (DT_NEEDED, DT_SONAME, DT_RUNPATH, DT_RPATH)


@dataclass(frozen=True)
class Dynamic:
    """The dynamic section's facts; search paths as written (``:``-joined)."""

    needed: tuple[str, ...] = ()
    soname: str | None = None
    runpath: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    version_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    version_defs: tuple[str, ...] = ()


@dataclass
class _Entries:
    strings: list[tuple[int, int]] = field(default_factory=list)  # (tag, string offset), in file order
    values: dict[int, int] = field(default_factory=dict)  # the last value of each other tag


class _Places:
    """Virtual addresses to file offsets: PT_LOAD first, section headers second."""

    def __init__(self, reader: ElfReader, segments: list[Segment]):
        self.reader = reader
        self.loads = [s for s in segments if s.p_type == PT_LOAD]
        self._sections: list[Section] | None = None

    def sections(self) -> list[Section]:
        if self._sections is None:
            self._sections = self.reader.sections()
        return self._sections

    def of_type(self, sh_type: int) -> Section | None:
        return next((s for s in self.sections() if s.sh_type == sh_type and s.sh_type != SHT_NOBITS), None)

    def offset(self, address: int, sh_type: int) -> int | None:
        """The file offset of ``address``: in a PT_LOAD segment, else the
        section of ``sh_type`` at that address, else the first of that type."""
        for load in self.loads:
            if load.vaddr <= address < load.vaddr + load.filesz:
                return load.offset + (address - load.vaddr)
        candidates = [s for s in self.sections() if s.sh_type == sh_type]
        chosen = next((s for s in candidates if s.addr == address), candidates[0] if candidates else None)
        return chosen.offset if chosen is not None else None

    def string_table(self, address: int) -> int | None:
        """The file offset of the dynamic string table at ``address``: in a
        PT_LOAD segment, else the table the SHT_DYNAMIC section links, else a
        string table at that address."""
        for load in self.loads:
            if load.vaddr <= address < load.vaddr + load.filesz:
                return load.offset + (address - load.vaddr)
        sections = self.sections()
        dynamic_section = self.of_type(SHT_DYNAMIC)
        if dynamic_section is not None and 0 < dynamic_section.link < len(sections):
            return sections[dynamic_section.link].offset
        at = next((s for s in sections if s.sh_type == SHT_STRTAB and s.addr == address), None)
        return at.offset if at is not None else None


class _Budget:
    """Version entries left to read: a cycle of ``next`` links ends here."""

    def __init__(self, reader: ElfReader):
        self.reader = reader
        self.left = MAX_ENTRIES

    def spend(self, what: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise self.reader.bad(f"malformed: more than {MAX_ENTRIES} {what} entries (a cycle of next links?)")


def read_dynamic(reader: ElfReader) -> Dynamic:
    """The dynamic section's facts (empty for a file without PT_DYNAMIC, e.g. a
    static executable or an object file); :class:`~fcslim.elf.reader.BadElf`
    when it is malformed."""
    segments = reader.segments()
    places = _Places(reader, segments)
    table = next((s for s in segments if s.p_type == PT_DYNAMIC), None)
    if table is None:
        return Dynamic()
    entries = _Entries()
    for tag, value in reader.dynamic_entries(table.offset, table.filesz):
        if tag in _STRING_TAGS:
            entries.strings.append((tag, value))
        else:
            entries.values[tag] = value
    values = entries.values
    if not entries.strings and DT_VERNEED not in values and DT_VERDEF not in values:
        return Dynamic()
    if DT_STRTAB not in values:
        raise reader.bad("malformed: the dynamic section names strings but has no DT_STRTAB")
    strtab = places.string_table(values[DT_STRTAB])
    if strtab is None:
        raise reader.bad(f"malformed: DT_STRTAB {values[DT_STRTAB]:#x} lies in no segment or section")
    end = strtab + values[DT_STRSZ] if DT_STRSZ in values else reader.size

    def text(offset: int, what: str) -> str:
        return reader.string(strtab + offset, end, what)

    needed, runpath, rpath = [], [], []
    soname = None
    for tag, offset in entries.strings:
        if tag == DT_NEEDED:
            needed.append(text(offset, "a DT_NEEDED name"))
        elif tag == DT_SONAME:
            soname = text(offset, "the DT_SONAME")
        elif tag == DT_RUNPATH:
            runpath.append(text(offset, "the DT_RUNPATH"))
        else:
            rpath.append(text(offset, "the DT_RPATH"))
    budget = _Budget(reader)
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    defs: tuple[str, ...] = ()
    if DT_VERNEED in values:
        start = places.offset(values[DT_VERNEED], SHT_GNU_VERNEED)
        if start is None:
            raise reader.bad(f"malformed: DT_VERNEED {values[DT_VERNEED]:#x} lies in no segment or section")
        needs = _version_needs(reader, start, values.get(DT_VERNEEDNUM), text, budget)
    if DT_VERDEF in values:
        start = places.offset(values[DT_VERDEF], SHT_GNU_VERDEF)
        if start is None:
            raise reader.bad(f"malformed: DT_VERDEF {values[DT_VERDEF]:#x} lies in no segment or section")
        defs = _version_defs(reader, start, values.get(DT_VERDEFNUM), text, budget)
    return Dynamic(tuple(needed), soname, tuple(runpath), tuple(rpath), needs, defs)


def _version_needs(reader: ElfReader, start: int, count: int | None, text: Callable[[int, str], str],
                   budget: _Budget) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(library, (version, ...)) for each Elf_Verneed entry (16 bytes, both classes)."""
    found = []
    position = start
    for _ in range(count if count is not None else MAX_ENTRIES):
        budget.spend("version need")
        _version, aux_count, file_name, aux, following = reader.unpack("HHIII", position, "a version need")
        names = []
        at = position + aux
        for _ in range(aux_count):
            budget.spend("version need")
            _hash, _flags, _other, name, next_aux = reader.unpack("IHHII", at, "a version need entry")
            names.append(text(name, "a required version name"))
            if not next_aux:
                break
            at += next_aux
        found.append((text(file_name, "a version need's library name"), tuple(names)))
        if not following:
            break
        position += following
    return tuple(found)


def _version_defs(reader: ElfReader, start: int, count: int | None, text: Callable[[int, str], str],
                  budget: _Budget) -> tuple[str, ...]:
    """Every name of every Elf_Verdef entry (20 bytes) and its Elf_Verdaux (8 bytes)."""
    found = []
    position = start
    for _ in range(count if count is not None else MAX_ENTRIES):
        budget.spend("version definition")
        _version, _flags, _index, aux_count, _hash, aux, following = reader.unpack(
            "HHHHIII", position, "a version definition")
        at = position + aux
        for _ in range(aux_count):
            budget.spend("version definition")
            name, next_aux = reader.unpack("II", at, "a version definition name")
            found.append(text(name, "a defined version name"))
            if not next_aux:
                break
            at += next_aux
        if not following:
            break
        position += following
    return tuple(found)
