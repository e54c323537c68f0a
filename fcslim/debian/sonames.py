"""Which package provides a soname: Debian's library naming policy and the
ranking of the Contents index's candidates."""

from __future__ import annotations

import posixpath
import re

MULTIARCH_TRIPLET = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}


def std_library_dirs(debian_arch: str) -> tuple[str, ...]:
    """The directories ld.so searches by default, relative to / (as Contents
    writes paths)."""
    triplet = MULTIARCH_TRIPLET.get(debian_arch, "")
    dirs = [f"lib/{triplet}", f"usr/lib/{triplet}"] if triplet else []
    return tuple(dirs + ["lib", "usr/lib", "lib64", "usr/lib64"])


def soname_package_stem(soname: str) -> tuple[str, str]:
    """(expected package name, stem) by Debian's library naming policy:
    libzbar.so.0 -> ("libzbar0", "libzbar"); libgobject-2.0.so.0 ->
    ("libgobject-2.0-0", "libgobject")."""
    base, _, version = soname.partition(".so")
    version = version.lstrip(".")
    major = version.split(".", 1)[0] if version else ""
    name = base.lower()
    if major:
        name = f"{name}-{major}" if name[-1:].isdigit() else f"{name}{major}"
    stem = re.split(r"[-_.]?\d", base.lower(), maxsplit=1)[0]
    return name, stem


def rank_candidates(soname: str, rows: list[list[str]], debian_arch: str) -> list[tuple[str, str]]:
    """(path, package) pairs able to provide ``soname``, best first: a standard
    library directory before a subdirectory, a package named after the soname
    (libzbar0 for libzbar.so.0, also with a t64 suffix) before one whose name
    starts with its stem, before the rest; never -dbg/-dbgsym packages, -dev
    packages last."""
    std = set(std_library_dirs(debian_arch))
    expected, stem = soname_package_stem(soname)
    scored = []
    for row in rows:
        path, packages = row[0], row[1:]
        if posixpath.basename(path) != soname:
            continue
        dir_rank = 0 if posixpath.dirname(path) in std else 1
        for package in packages:
            if package.endswith(("-dbg", "-dbgsym")) or "-dbg-" in package:
                continue
            if package in (expected, expected + "t64") or package.replace("t64", "") == expected:
                name_rank = 0
            elif package.startswith(stem):
                name_rank = 1
            else:
                name_rank = 2
            dev = 1 if package.endswith("-dev") else 0
            scored.append(((dev, dir_rank, name_rank, len(package), package, path), (path, package)))
    scored.sort()
    seen = set()
    out = []
    for _, pair in scored:
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out
