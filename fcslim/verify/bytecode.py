"""Hash-based bytecode for the target's exact Python.

Function Compute's /code is read-only: a bundle without .pyc files is compiled
again at every cold start, and timestamp-based pycs are rejected once a zip tool
normalises file dates.  Hash-based pycs (PEP 552) carry a hash of their source
instead of its mtime, so they survive zipping.

Invalidation mode (default ``checked-hash``): the importer re-hashes the source
(a read and a SipHash, microseconds per KB) and recompiles in memory if the
source was edited, e.g. in the console's online editor, so an edit is never
silently ignored.  ``unchecked-hash`` skips that read (the fastest import) and
is right for bundles that are never edited after build; with
``drop_sources`` the pycs are written beside the module (``mod.pyc``, which
CPython imports without a source) and the ``.py`` files are deleted, so the mode
does not matter and ``unchecked-hash`` is used.

The compiler must be the target's own minor version (the magic number and the
cache tag ``cpython-39`` change with it): the python3 of the clean Debian root
for ``debianNN`` profiles, else a host interpreter of that version.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fcslim.core.files import move
from fcslim.verify import interpreters

from fcslim.verify import rootfs
from fcslim.core.errors import FcslimError, EXIT_VERIFY

MODES = ("checked-hash", "unchecked-hash")
_SKIP_DIRS = re.compile(r"(^|/)(\.fcslim|[^/]+\.dist-info|bin|lib)(/|$)")


class CompileError(FcslimError):
    """No interpreter of the target's version to compile with (exit 8)."""

    exit_code = EXIT_VERIFY


@dataclass
class CompileResult:
    compiled: bool
    python: str = ""
    where: str = ""
    cache_tag: str = ""
    invalidation_mode: str = ""
    drop_sources: bool = False
    files: int = 0
    bytes_added: int = 0
    sources_removed: int = 0
    source_bytes_removed: int = 0
    failed: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _py_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel = "" if rel == "." else rel
        dirnames[:] = sorted(d for d in dirnames if not _SKIP_DIRS.search(f"{rel}/{d}".lstrip("/")) and d != "__pycache__")
        for f in sorted(filenames):
            if f.endswith(".py"):
                out.append(Path(dirpath) / f)
    return out


def _pyc_files(root: Path, legacy: bool, cache_tag: str) -> list[Path]:
    if legacy:
        return [p.with_suffix(".pyc") for p in _py_files(root) if p.with_suffix(".pyc").exists()]
    out = []
    for p in _py_files(root):
        pyc = p.parent / "__pycache__" / f"{p.stem}.{cache_tag}.pyc"
        if pyc.exists():
            out.append(pyc)
    return out


# Runs in the target interpreter (3.7+, PEP 552): compile a list of files.
_COMPILE_SCRIPT = r'''
import json, py_compile, sys
root, ddir, mode, legacy, listing = sys.argv[1:6]
names = json.load(open(listing))
mode = py_compile.PycInvalidationMode.CHECKED_HASH if mode == "checked-hash" else py_compile.PycInvalidationMode.UNCHECKED_HASH
failed = []
for rel in names:
    src = root + "/" + rel
    cfile = (src + "c") if legacy == "1" else None
    try:
        py_compile.compile(src, cfile=cfile, dfile=ddir + "/" + rel, doraise=True, invalidation_mode=mode)
    except Exception as exc:
        failed.append(rel)
print(json.dumps({"failed": failed, "tag": sys.implementation.cache_tag,
                  "version": ".".join(map(str, sys.version_info[:3]))}))
'''


def compile_bytecode(root: Path, profile, python: str | None = None, drop_sources: bool = False,
                     invalidation_mode: str = "checked-hash", backup_dir: Path | None = None) -> CompileResult:
    """Write hash-based pycs for every .py of the bundle (dist-info, bin/, lib/
    and .fcslim/ left alone) with the target's exact Python.

    Returns ``compiled=False`` with a reason when no such interpreter exists;
    files that do not compile for the target (Python 2 leftovers, templates)
    are listed in ``failed`` and keep their source.  With ``drop_sources`` and
    a ``backup_dir``, dropped sources are moved there (same relative paths) so
    a caller can put them back if an import check fails.
    """
    root = Path(root).resolve()
    if invalidation_mode not in MODES:
        raise ValueError(f"invalidation_mode must be one of {MODES}")
    mode = "unchecked-hash" if drop_sources else invalidation_mode
    sources = _py_files(root)
    rel_names = [p.relative_to(root).as_posix() for p in sources]
    listing = root / ".fcslim" / "compile-list.json"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text(json.dumps(rel_names))
    legacy = "1" if drop_sources else "0"
    try:
        runner = None
        if python is None and rootfs.uses_clean_root(profile) and rootfs.rootfs_support() is None:
            chroot = rootfs.ensure_root(profile.debian.release, profile.debian_arch, mirror=profile.debian.mirror)
            code_root = profile.code_root
            proc = rootfs.run_in_root(
                chroot, ["python3", "-S", "-c", _COMPILE_SCRIPT, code_root, code_root, mode, legacy,
                         f"{code_root}/.fcslim/compile-list.json"],
                binds={str(root): code_root}, writable_binds=True, timeout=1800)
            where = f"clean Debian {profile.debian.release} root"
            runner = (proc.returncode, proc.stdout, proc.stderr)
        else:
            interp = interpreters.find_python(profile, explicit=python)
            if interp is None:
                return CompileResult(False, reason=(
                    f"no CPython {profile.python_version} to compile with: pass --python, or set "
                    f"$FCSLIM_PYTHON{profile.python[0]}{profile.python[1]}"))
            proc2 = subprocess.run(
                [interp.path, "-S", "-E", "-c", _COMPILE_SCRIPT, str(root), profile.code_root.rstrip("/"),
                 mode, legacy, str(listing)],
                capture_output=True, text=True, timeout=1800)
            where = f"host interpreter {interp.path}"
            runner = (proc2.returncode, proc2.stdout, proc2.stderr)
    finally:
        listing.unlink(missing_ok=True)
    code, stdout, stderr = runner
    if code != 0:
        raise CompileError(f"Compiling the bundle's sources with the target's Python failed: "
                           f"{' '.join(stderr.strip().splitlines()[-3:])}.",
                           "Check that the interpreter works; run again with --debug to see more.")
    info = json.loads(stdout.strip().splitlines()[-1])
    failed = set(info["failed"])
    result = CompileResult(True, python=info["version"], where=where, cache_tag=info["tag"],
                           invalidation_mode=mode, drop_sources=drop_sources, failed=sorted(failed))
    for src, rel in zip(sources, rel_names):
        if rel in failed:
            continue
        pyc = src.with_suffix(".pyc") if drop_sources else src.parent / "__pycache__" / f"{src.stem}.{info['tag']}.pyc"
        if pyc.exists():
            result.files += 1
            result.bytes_added += pyc.stat().st_size
            if drop_sources:
                result.sources_removed += 1
                result.source_bytes_removed += src.stat().st_size
                if backup_dir is not None:
                    target = Path(backup_dir) / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    move(src, target)
                else:
                    src.unlink()
    if drop_sources:
        for cache in root.rglob("__pycache__"):
            if cache.is_dir():
                for f in cache.iterdir():
                    f.unlink()
                cache.rmdir()
    return result
