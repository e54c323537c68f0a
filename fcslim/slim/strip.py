"""Debug sections of ELF files: how many bytes they hold, and stripping them
safely (a copy without their bytes, :mod:`fcslim.elf.debugstrip`, kept only
when the program headers did not change)."""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from fcslim.elf.debugstrip import strip_debug


@dataclass(frozen=True)
class ElfLayout:
    """What strip must not change, and how many bytes of debug sections there are."""

    debug_bytes: int
    segments: tuple[tuple[int, ...], ...]


def elf_layout(path: Path) -> ElfLayout | None:
    """Section and segment facts read from the headers, or None if not ELF."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF":
                return None
            cls, data = ident[4], ident[5]
            end = "<" if data == 1 else ">"
            if cls == 2:
                phoff, shoff = struct.unpack_from(end + "QQ", ident, 32)
                phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", ident, 54)
            elif cls == 1:
                phoff, shoff = struct.unpack_from(end + "II", ident, 28)
                phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", ident, 42)
            else:
                return None
            segments = []
            f.seek(phoff)
            for _ in range(phnum):
                raw = f.read(phentsize)
                if cls == 2:
                    p_type, p_flags, _off, vaddr, _pa, filesz, memsz, align = struct.unpack_from(end + "IIQQQQQQ", raw)
                else:
                    p_type, _off, vaddr, _pa, filesz, memsz, p_flags, align = struct.unpack_from(end + "IIIIIIII", raw)
                segments.append((p_type, vaddr, filesz, memsz, p_flags, align))
            if shoff == 0 or shnum == 0 or shstrndx >= shnum:
                return ElfLayout(0, tuple(segments))
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = []
            for i in range(shnum):
                raw = table[i * shentsize:(i + 1) * shentsize]
                if cls == 2:
                    name, _t, _fl, _a, off, size = struct.unpack_from(end + "IIQQQQ", raw)
                else:
                    name, _t, _fl, _a, off, size = struct.unpack_from(end + "IIIIII", raw)
                sections.append((name, off, size))
            _n, stroff, strsize = sections[shstrndx]
            f.seek(stroff)
            names = f.read(strsize)
    except (OSError, struct.error, IndexError):
        return None
    debug = 0
    for name_off, _off, size in sections:
        end_idx = names.find(b"\0", name_off)
        name = names[name_off:end_idx if end_idx != -1 else None]
        if name.startswith((b".debug_", b".zdebug_")):
            debug += size
    return ElfLayout(debug, tuple(segments))


def strip_debug_copy(src: Path, dest: Path) -> str | None:
    """Write ``src`` with its debug sections' bytes removed to ``dest``
    (:mod:`fcslim.elf.debugstrip`: any machine, 1 MiB at a time); None on
    success, else why not (and ``dest`` is absent)."""
    before = elf_layout(src)
    problem = strip_debug(src, dest)
    if problem:
        return problem
    after = elf_layout(dest)
    if before is None or after is None or after.segments != before.segments:
        dest.unlink(missing_ok=True)
        return "stripping would change the program headers; left as it was"
    shutil.copymode(src, dest)
    return None
