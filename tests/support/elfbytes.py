"""ELF files written byte by byte, for what gcc on this machine cannot make.

gcc here builds x86_64 and (with ``-m32 -nostdlib``) i386 files; big-endian
files and files whose tables only section headers locate need a writer of
their own.  :func:`elf_bytes` lays out a small shared object of either class
and byte order:

    header | program headers | .dynstr | .gnu.version_r | .gnu.version_d | .dynamic | [.debug_info] | .shstrtab | section headers

with a PT_LOAD segment mapping the whole file at :data:`BASE` and a PT_DYNAMIC
segment (each can be left out), and section headers readelf understands, so
the same bytes can be read by fcslim and by ``readelf -d -V``.  Layouts follow
the ELF gABI and the LSB's "Symbol Versioning" chapter.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

BASE = 0x10000  # virtual address of file offset 0
PT_LOAD, PT_DYNAMIC = 1, 2
SHT_STRTAB, SHT_DYNAMIC = 3, 6
SHT_GNU_VERDEF, SHT_GNU_VERNEED = 0x6FFFFFFD, 0x6FFFFFFE
DT = {"NULL": 0, "NEEDED": 1, "STRTAB": 5, "STRSZ": 10, "SONAME": 14, "RPATH": 15, "RUNPATH": 29,
      "VERDEF": 0x6FFFFFFC, "VERDEFNUM": 0x6FFFFFFD, "VERNEED": 0x6FFFFFFE, "VERNEEDNUM": 0x6FFFFFFF}


@dataclass(frozen=True)
class ElfSpec:
    """What the written file says.  ``version_defs``: one tuple per
    definition, its name then its parents (the first definition is the base
    one, flagged VER_FLG_BASE)."""

    elf_class: int = 64
    big_endian: bool = False
    machine: int = 62
    needed: Sequence[str] = ()
    soname: str | None = None
    runpath: str | None = None
    rpath: str | None = None
    version_needs: Sequence[tuple[str, Sequence[str]]] = ()
    version_defs: Sequence[Sequence[str]] = ()
    load_segment: bool = True  # False: addresses map to offsets only through section headers
    dynamic_segment: bool = True  # False: the dynamic table is found through its section header
    verneed_num: int | None = None  # DT_VERNEEDNUM as written (None: the real count)
    debug: bytes = b""  # a .debug_info section after the loaded bytes, before .shstrtab


def elf_hash(name: bytes) -> int:
    """The System V ABI's ELF hash (vd_hash/vna_hash)."""
    h = 0
    for byte in name:
        h = (h << 4) + byte
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {}

    def add(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.data)
            self.data += text.encode() + b"\0"
        return self.index[text]


def _align(blob: bytearray, to: int = 8) -> None:
    blob += bytes(-len(blob) % to)


def elf_bytes(spec: ElfSpec) -> bytes:
    """The file described by ``spec``."""
    order = ">" if spec.big_endian else "<"
    wide = spec.elf_class == 64
    ehsize, phentsize, shentsize = (64, 56, 64) if wide else (52, 32, 40)
    dynent = order + ("qQ" if wide else "iI")
    phnum = int(spec.load_segment) + int(spec.dynamic_segment)

    strings = _Strings()
    dynamic: list[tuple[int, int]] = [(DT["NEEDED"], strings.add(name)) for name in spec.needed]
    for tag, value in (("SONAME", spec.soname), ("RUNPATH", spec.runpath), ("RPATH", spec.rpath)):
        if value is not None:
            dynamic.append((DT[tag], strings.add(value)))

    verneed = bytearray()
    other = 2
    for i, (library, versions) in enumerate(spec.version_needs):
        last = i == len(spec.version_needs) - 1
        verneed += struct.pack(order + "HHIII", 1, len(versions), strings.add(library), 16,
                               0 if last else 16 + 16 * len(versions))
        for k, version in enumerate(versions):
            verneed += struct.pack(order + "IHHII", elf_hash(version.encode()), 0, other, strings.add(version),
                                   0 if k == len(versions) - 1 else 16)
            other += 1
    verdef = bytearray()
    for i, names in enumerate(spec.version_defs):
        last = i == len(spec.version_defs) - 1
        verdef += struct.pack(order + "HHHHIII", 1, 1 if i == 0 else 0, i + 1, len(names),
                              elf_hash(names[0].encode()), 20, 0 if last else 20 + 8 * len(names))
        for k, name in enumerate(names):
            verdef += struct.pack(order + "II", strings.add(name), 0 if k == len(names) - 1 else 8)

    blob = bytearray(ehsize + phnum * phentsize)
    _align(blob)
    dynstr_at = len(blob)
    blob += strings.data
    _align(blob)
    verneed_at = len(blob)
    blob += verneed
    _align(blob)
    verdef_at = len(blob)
    blob += verdef
    _align(blob)
    dynamic.append((DT["STRTAB"], BASE + dynstr_at))
    dynamic.append((DT["STRSZ"], len(strings.data)))
    if spec.version_needs:
        dynamic.append((DT["VERNEED"], BASE + verneed_at))
        count = len(spec.version_needs) if spec.verneed_num is None else spec.verneed_num
        dynamic.append((DT["VERNEEDNUM"], count))
    if spec.version_defs:
        dynamic.append((DT["VERDEF"], BASE + verdef_at))
        dynamic.append((DT["VERDEFNUM"], len(spec.version_defs)))
    dynamic.append((DT["NULL"], 0))
    dynamic_at = len(blob)
    for tag, value in dynamic:
        blob += struct.pack(dynent, tag, value)
    dynamic_size = len(blob) - dynamic_at

    loaded_end = len(blob)
    debug_at = len(blob)
    blob += spec.debug
    _align(blob)
    names = _Strings()
    sections = [  # name, type, offset, size, link, info, entsize
        (".dynstr", SHT_STRTAB, dynstr_at, len(strings.data), 0, 0, 0),
        (".gnu.version_r", SHT_GNU_VERNEED, verneed_at, len(verneed), 1, len(spec.version_needs), 0),
        (".gnu.version_d", SHT_GNU_VERDEF, verdef_at, len(verdef), 1, len(spec.version_defs), 0),
        (".dynamic", SHT_DYNAMIC, dynamic_at, dynamic_size, 1, 0, struct.calcsize(dynent)),
        (".debug_info", 1, debug_at, len(spec.debug), 0, 0, 0),  # SHT_PROGBITS, not loaded
    ]
    sections = [s for s in sections if s[3]]  # .dynstr is never empty: it stays section 1, the others' link
    for section in sections:
        names.add(section[0])
    names.add(".shstrtab")
    shstrtab_at = len(blob)
    blob += names.data
    _align(blob)
    shoff = len(blob)
    shdr = order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
    blob += bytes(shentsize)  # section 0
    for name, kind, at, size, link, info, ent in sections:
        flags, address = (0, 0) if name.startswith(".debug") else (2, BASE + at)  # SHF_ALLOC
        blob += struct.pack(shdr, names.add(name), kind, flags, address, at, size, link, info, 1, ent)
    blob += struct.pack(shdr, names.add(".shstrtab"), SHT_STRTAB, 0, 0, shstrtab_at, len(names.data), 0, 0, 1, 0)
    shnum = len(sections) + 2

    ident = b"\x7fELF" + bytes([2 if wide else 1, 2 if spec.big_endian else 1, 1]) + bytes(9)
    header = struct.pack(order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH"), 3, spec.machine, 1, 0,
                         ehsize if phnum else 0, shoff, 0, ehsize, phentsize, phnum, shentsize, shnum, shnum - 1)
    blob[:ehsize] = ident + header
    phdr = order + ("IIQQQQQQ" if wide else "IIIIIIII")
    at = ehsize
    segments = []
    if spec.load_segment:
        segments.append((PT_LOAD, 0, BASE, loaded_end, 0x1000))
    if spec.dynamic_segment:
        segments.append((PT_DYNAMIC, dynamic_at, BASE + dynamic_at, dynamic_size, 8))
    for p_type, offset, vaddr, size, align in segments:
        if wide:
            fields = struct.pack(phdr, p_type, 4, offset, vaddr, vaddr, size, size, align)
        else:
            fields = struct.pack(phdr, p_type, offset, vaddr, vaddr, size, size, 4, align)
        blob[at:at + phentsize] = fields
        at += phentsize
    return bytes(blob)
