"""What an import check imports: every top-level module of a bundle."""

from __future__ import annotations

import os
import re
from pathlib import Path

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXT_SUFFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z0-9_\-]+)?\.(so|pyd)$")
_SKIP_TOP = {"bin", "tests", "test", "testing", "docs", "doc", "examples", "benchmarks", "__pycache__", "setup", "conftest"}


def _names_from_record(dist_info: Path) -> set[str]:
    record = dist_info / "RECORD"
    names: set[str] = set()
    if not record.is_file():
        return names
    for line in record.read_text(errors="replace").splitlines():
        path = line.rsplit(",", 2)[0].strip().strip('"')
        if not path or path.startswith(".."):
            continue
        parts = path.split("/")
        if len(parts) > 1:
            if _IDENTIFIER.match(parts[0]) and (parts[-1].endswith((".py", ".so")) or ".so." in parts[-1]):
                names.add(parts[0])
        else:
            name = _module_name_of_file(parts[0])
            if name:
                names.add(name)
    return names


def _module_name_of_file(filename: str) -> str | None:
    if filename.endswith(".py"):
        stem = filename[:-3]
        return stem if _IDENTIFIER.match(stem) else None
    m = _EXT_SUFFIX.match(filename)
    return m.group(1) if m else None


def _names_from_tree(root: Path) -> set[str]:
    names: set[str] = set()
    for entry in root.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not _IDENTIFIER.match(entry.name):
                continue
            if (entry / "__init__.py").exists() or any(
                p.suffix in (".py", ".so") for p in entry.iterdir() if p.is_file()
            ) or any((entry / d / "__init__.py").exists() for d in os.listdir(entry) if (entry / d).is_dir()):
                names.add(entry.name)
        elif entry.is_file():
            name = _module_name_of_file(entry.name)
            if name:
                names.add(name)
    return names


def top_level_modules(root: Path) -> list[str]:
    """Every top-level module of the bundle: names from each dist-info's
    top_level.txt (else its RECORD) and the packages/modules at the tree's
    root; test, doc and script directories and ``setup.py`` are left out."""
    root = Path(root)
    names = _names_from_tree(root)
    for dist_info in sorted(root.glob("*.dist-info")):
        top = dist_info / "top_level.txt"
        if top.is_file():
            for line in top.read_text(errors="replace").split():
                first = line.strip().split("/")[0]
                if _IDENTIFIER.match(first) and ((root / first).exists() or any(root.glob(first + ".*"))):
                    names.add(first)
        else:
            names |= _names_from_record(dist_info)
    return sorted(n for n in names if n not in _SKIP_TOP)
