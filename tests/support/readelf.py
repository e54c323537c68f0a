"""What binutils' ``readelf`` says about an ELF file: the reference the ELF
reader is compared with (``readelf -h -d -V -W``, C locale)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_DYNAMIC = re.compile(r"\((NEEDED|SONAME|RUNPATH|RPATH)\)\s+[^\[]*\[(.*)\]\s*$")
_DEF = re.compile(r"Rev: \d+\s+Flags: .*\sName: (\S+)\s*$")
_PARENT = re.compile(r"Parent \d+: (\S+)\s*$")
_FILE = re.compile(r"File: (\S+)\s+Cnt: \d+\s*$")
_NEED = re.compile(r"Name: (\S+)\s+Flags: ")


@dataclass
class ReadelfFacts:
    elf_class: int = 0
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    runpath: list[str] = field(default_factory=list)
    rpath: list[str] = field(default_factory=list)
    version_needs: list[tuple[str, list[str]]] = field(default_factory=list)
    version_defs: list[str] = field(default_factory=list)


def readelf_facts(readelf: str, path: str | os.PathLike) -> ReadelfFacts:
    """Parse ``readelf -h -d -V -W`` of ``path``; search paths split at ``:``."""
    proc = subprocess.run([readelf, "-h", "-d", "-V", "-W", str(Path(path))], capture_output=True, text=True,
                          env={**os.environ, "LC_ALL": "C"}, check=True)
    facts = ReadelfFacts()
    part = ""
    for line in proc.stdout.splitlines():
        if line.strip().startswith("Class:"):
            facts.elf_class = 64 if "ELF64" in line else 32
        elif line.startswith("Dynamic section"):
            part = "dynamic"
        elif line.startswith("Version definition section"):
            part = "defs"
        elif line.startswith("Version needs section"):
            part = "needs"
        elif line.startswith("Version symbols section"):
            part = "symbols"
        elif part == "dynamic" and (match := _DYNAMIC.search(line)):
            tag, value = match.groups()
            if tag == "NEEDED":
                facts.needed.append(value)
            elif tag == "SONAME":
                facts.soname = value
            else:
                (facts.runpath if tag == "RUNPATH" else facts.rpath).extend(p for p in value.split(":") if p)
        elif part == "defs" and (match := _DEF.search(line) or _PARENT.search(line)):
            facts.version_defs.append(match.group(1))
        elif part == "needs" and (match := _FILE.search(line)):
            facts.version_needs.append((match.group(1), []))
        elif part == "needs" and facts.version_needs and (match := _NEED.search(line)):
            facts.version_needs[-1][1].append(match.group(1))
    return facts
