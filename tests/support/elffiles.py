"""Build tiny ELF files with gcc for tests.

Offline tests need real shared objects and executables with chosen DT_NEEDED,
SONAME, RUNPATH/RPATH and symbol-version requirements.  These helpers compile
them from a few lines of C in well under a second each:

    lib = build_shared_library(tmp / "libdep.so.1", "int dep(void){return 1;}", soname="libdep.so.1")
    top = build_shared_library(tmp / "pkg/_ext.so", "int dep(void); int f(void){return dep();}",
                               link=[lib], runpath=["$ORIGIN/../pkg.libs"])
    old = build_shared_library(tmp / "new.so", "int f(void){return 0;}",
                               version_requirement=VersionRequirement("libc.so.6", "GLIBC_2.99"))
    set_machine(tmp / "arm.so", "AARCH64")   # patch e_machine, keeps a valid ELF
    truncate(tmp / "cut.so", 0.5)

``link`` entries are built libraries (their SONAME, or file name when they have
none, becomes a DT_NEEDED entry); ``needed`` adds DT_NEEDED entries by name for
libraries that do not exist anywhere (a stub is linked and thrown away).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

# e_machine values (ELF gABI) by fcslim's names (data/elf_machines.json).
MACHINES = {"X86_64": 62, "AARCH64": 183, "I386": 3, "ARM": 40, "PPC64": 21, "S390": 22, "RISCV": 243}


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class VersionRequirement:
    """Make the built file require ``version`` of ``library`` (by soname), e.g.
    ("libc.so.6", "GLIBC_2.99") or ("libstdc++.so.6", "GLIBCXX_3.4.99").  A stub
    library with that soname, defining ``symbol`` at that version, is linked
    against and discarded."""

    library: str
    version: str
    symbol: str = "fcslim_test_versioned_symbol"


def compiler() -> str:
    path = shutil.which("gcc") or shutil.which("cc")
    if not path:
        raise BuildError("gcc is not installed; the offline ELF tests need it")
    return path


def _run(argv: Sequence[str]) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(argv)} failed:\n{proc.stderr}")


def _stub_library(directory: Path, soname: str, source: str = "", version_script: str | None = None,
                  cflags: Sequence[str] = ()) -> Path:
    """A shared library named ``soname`` (file and DT_SONAME) in ``directory``."""
    src = directory / f"{soname}.c"
    src.write_text(source or "int fcslim_stub_symbol(void) { return 0; }\n")
    out = directory / soname
    argv = [compiler(), *cflags, "-shared", "-fPIC", "-nostdlib", "-o", str(out), str(src), f"-Wl,-soname,{soname}"]
    if version_script is not None:
        script = directory / f"{soname}.map"
        script.write_text(version_script)
        argv.append(f"-Wl,--version-script,{script}")
    _run(argv)
    return out


def build_elf(
    output: str | os.PathLike,
    source: str,
    *,
    shared: bool = True,
    soname: str | None = None,
    link: Iterable[str | os.PathLike] = (),
    needed: Iterable[str] = (),
    runpath: Iterable[str] = (),
    rpath: Iterable[str] = (),
    version_requirement: VersionRequirement | None = None,
    define_versions: Iterable[str] = (),
    extra_args: Iterable[str] = (),
    cflags: Sequence[str] = (),
) -> Path:
    """Compile ``source`` (C) into ``output`` and return its path.

    ``shared``: a shared object (default) or an executable.  ``soname``: its
    DT_SONAME.  ``link``: built libraries to link against (become DT_NEEDED).
    ``needed``: sonames to add to DT_NEEDED without a real library.
    ``runpath``/``rpath``: DT_RUNPATH or DT_RPATH entries (``$ORIGIN`` kept
    literally).  Give one or the other.  ``version_requirement``: see
    :class:`VersionRequirement`.  ``define_versions``: version names the built
    library itself defines (a version script exporting all its symbols under
    the last one).  ``cflags``: compiler flags for the file and its stubs
    alike (``("-m32", "-nostdlib")`` builds an i386 shared object without
    32-bit C libraries installed).
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    runpath, rpath = list(runpath), list(rpath)
    if runpath and rpath:
        raise ValueError("give runpath or rpath, not both (the loader ignores DT_RPATH when DT_RUNPATH is set)")
    with tempfile.TemporaryDirectory(prefix="fcslim-elf-") as tmp:
        work = Path(tmp)
        body = source
        libs: list[str] = []
        for name in needed:
            libs.append(str(_stub_library(work, name, cflags=cflags)))
        if version_requirement is not None:
            req = version_requirement
            stub_dir = work / "versioned"
            stub_dir.mkdir()
            stub = _stub_library(
                stub_dir,
                req.library,
                source=f"int {req.symbol}(void) {{ return 0; }}\n",
                version_script=f"{req.version} {{ global: {req.symbol}; local: *; }};\n",
                cflags=cflags,
            )
            libs.append(str(stub))
            body += f"\nint {req.symbol}(void);\nint fcslim_use_versioned(void) {{ return {req.symbol}(); }}\n"
        src = work / "main.c"
        src.write_text(body)
        # Keep DT_NEEDED exactly what was asked for, even for unused libraries.
        argv = [compiler(), *cflags, "-fPIC", "-O0", "-o", str(output), str(src), "-Wl,--no-as-needed"]
        if shared:
            argv.insert(1, "-shared")
        if soname:
            argv.append(f"-Wl,-soname,{soname}")
        for lib in link:
            argv.append(str(Path(lib).resolve()))
        argv.extend(libs)
        if runpath:
            argv += ["-Wl,--enable-new-dtags", "-Wl,-rpath," + ":".join(runpath)]
        if rpath:
            argv += ["-Wl,--disable-new-dtags", "-Wl,-rpath," + ":".join(rpath)]
        versions = list(define_versions)
        if versions:
            script = work / "defs.map"
            lines = [f"{v} {{ }};" for v in versions[:-1]]
            lines.append(f"{versions[-1]} {{ global: *; }};")
            script.write_text("\n".join(lines) + "\n")
            argv.append(f"-Wl,--version-script,{script}")
        argv.extend(extra_args)
        _run(argv)
    return output


def build_shared_library(output: str | os.PathLike, source: str = "int fcslim_f(void) { return 0; }\n", **kwargs) -> Path:
    """:func:`build_elf` for a shared object."""
    return build_elf(output, source, shared=True, **kwargs)


def build_executable(output: str | os.PathLike, source: str = "int main(void) { return 0; }\n", **kwargs) -> Path:
    """:func:`build_elf` for an executable."""
    return build_elf(output, source, shared=False, **kwargs)


def set_machine(path: str | os.PathLike, machine: str | int) -> Path:
    """Rewrite ``e_machine`` of an ELF file in place (a valid file for another
    architecture, without a cross compiler)."""
    value = MACHINES[machine] if isinstance(machine, str) else int(machine)
    path = Path(path)
    with open(path, "r+b") as handle:
        ident = handle.read(6)
        order = "little" if ident[5] == 1 else "big"
        handle.seek(18)
        handle.write(value.to_bytes(2, order))
    return path


def truncate(path: str | os.PathLike, fraction: float = 0.5) -> Path:
    """Cut an ELF file to ``fraction`` of its size, in place."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(max(1, int(size * fraction)))
    return path
