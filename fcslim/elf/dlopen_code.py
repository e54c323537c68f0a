"""Libraries opened by name, found by reading the installed Python code.

Besides the hand-kept table (``data/dlopen_libraries.json``), every ``.py``
file an installed distribution's RECORD lists is read with :mod:`ast` for calls
that open a shared library by a literal name:

* ``ctypes.CDLL("libgs.so.9")``, ``PyDLL``, ``cdll.LoadLibrary("libgs.so")``;
* ``ctypes.util.find_library("gs")``;
* cffi's ``ffi.dlopen("libvips.so.42")``.

Only files that contain one of those words are parsed, so a large tree costs
little.  A name becomes either an exact soname (``libgs.so.9``) or a stem to
look up (``find_library("gs")`` and the development name ``libgs.so`` both mean
"some ``libgs.so.N``").  Windows and macOS names, paths, glibc's own libraries
and the names the table's ``code_scan_ignore`` lists (GPU drivers the runtimes
never have) are left out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from fcslim.dists import inside_tree, read_record
from fcslim.elf.policy import dlopen_table, installed_distributions

_TRIGGERS = (b"CDLL", b"PyDLL", b"LoadLibrary", b"find_library", b"dlopen")
_LOADERS = {"CDLL", "PyDLL", "LoadLibrary", "dlopen"}
_WINDOWS_CHAINS = {"windll", "oledll", "WinDLL", "OleDLL"}
_SONAME = re.compile(r"^(lib[\w+.-]*?)\.so((?:\.\d+)+)$")
_DEV_NAME = re.compile(r"^(lib[\w+.-]*?)\.so$")
_PLAIN = re.compile(r"^[A-Za-z0-9][\w+.-]*$")
_GLIBC = {"c", "m", "dl", "pthread", "rt", "util", "resolv", "crypt", "nsl", "anl", "gcc_s", "stdc++"}
MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class CodeName:
    """One literal library name in one call."""

    name: str  # as written
    call: str  # "CDLL", "LoadLibrary", "find_library", "dlopen", ...
    where: str  # path:line in the bundle
    soname: str | None  # an exact soname, when the name is one
    stem: str | None  # else the library stem to look up ("libgs")


def classify(name: str) -> tuple[str | None, str | None] | None:
    """(soname, stem) for a literal name, or None when it is not a Linux
    library fcslim could provide."""
    name = name.strip()
    if not name or "/" in name or "\\" in name or name.lower().endswith((".dll", ".dylib", ".framework")):
        return None
    match = _SONAME.match(name)
    if match:
        stem = match.group(1)
        return None if stem[3:] in _GLIBC or stem.startswith("libpython") else (name, stem)
    match = _DEV_NAME.match(name)
    if match:
        stem = match.group(1)
        return None if stem[3:] in _GLIBC or stem.startswith("libpython") else (None, stem)
    if _PLAIN.match(name) and ".so" not in name:
        bare = name[3:] if name.startswith("lib") else name
        if bare in _GLIBC or bare.startswith("python"):
            return None
        return None, "lib" + bare
    return None


def _call_name(node: ast.Call) -> tuple[str, list[str]] | None:
    func = node.func
    chain: list[str] = []
    while isinstance(func, ast.Attribute):
        chain.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        chain.append(func.id)
    if not chain:
        return None
    return chain[0], chain[1:]


def names_in_source(source: bytes, where: str) -> list[CodeName]:
    """The literal library names ``source`` opens."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        named = _call_name(node)
        if named is None:
            continue
        call, rest = named
        if call not in _LOADERS and call != "find_library":
            continue
        if _WINDOWS_CHAINS & set(rest):
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        kind = classify(first.value)
        if kind is None:
            continue
        found.append(CodeName(first.value, call, f"{where}:{node.lineno}", kind[0], kind[1]))
    return found


def scan_code(root: Path, skip: Iterable[str] = ()) -> dict[str, list[CodeName]]:
    """Normalised distribution name -> the library names its code opens
    (distributions in ``skip`` and names the table ignores are left out)."""
    root = Path(root)
    ignored = set(dlopen_table().get("code_scan_ignore", []))
    skipped = set(skip)
    result: dict[str, list[CodeName]] = {}
    for dist, dist_info in sorted(installed_distributions(root).items()):
        if dist in skipped:
            continue
        paths = read_record(root / dist_info)
        if not paths:
            continue
        base = Path(dist_info).parent
        names: dict[tuple[str, str | None, str | None], CodeName] = {}
        for rel in paths:
            if not rel.endswith(".py") or not inside_tree(rel):
                continue
            path = root / base / rel
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                source = path.read_bytes()
            except OSError:
                continue
            if not any(t in source for t in _TRIGGERS):
                continue
            for item in names_in_source(source, (base / rel).as_posix()):
                key = (item.name, item.soname, item.stem)
                if item.name not in ignored and (item.stem or "")[3:] not in ignored and key not in names:
                    names[key] = item
        if names:
            result[dist] = sorted(names.values(), key=lambda c: (c.name, c.where))
    return result


def match_stem(stem: str, sonames: Iterable[str]) -> str | None:
    """The soname of ``stem`` among ``sonames``: ``libgs`` -> ``libgs.so.9``
    (the shortest version suffix, then the highest major)."""
    pattern = re.compile(re.escape(stem) + r"\.so\.(\d+)((?:\.\d+)*)$")
    best: tuple[int, int, str] | None = None
    for soname in sonames:
        match = pattern.match(soname)
        if match:
            key = (len(match.group(2)), -int(match.group(1)), soname)
            if best is None or key < best:
                best = key
    return best[2] if best else None
