"""Debug sections of ELF files: how many bytes they hold, and stripping them
safely (a copy without their bytes, :mod:`fcslim.elf.debugstrip`, kept only
when the program headers did not change)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from fcslim.elf.debugstrip import debug_bytes, strip_debug
from fcslim.elf.reader import BadElf, ElfReader


@dataclass(frozen=True)
class ElfLayout:
    """What strip must not change, and how many bytes of debug sections there are."""

    debug_bytes: int
    segments: tuple[tuple[int, ...], ...]


def elf_layout(path: Path) -> ElfLayout | None:
    """Segment facts and debug bytes (:mod:`fcslim.elf.reader`), or None when
    the file is not a readable ELF file."""
    try:
        with open(path, "rb") as handle:
            reader = ElfReader(handle, os.fstat(handle.fileno()).st_size)
            segments = tuple((s.p_type, s.vaddr, s.filesz, s.memsz, s.flags, s.align) for s in reader.segments())
            return ElfLayout(debug_bytes(reader), segments)
    except (OSError, BadElf):
        return None


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
