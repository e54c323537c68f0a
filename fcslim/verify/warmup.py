"""Bytecode warm-up for import checks.

A bundle has no bytecode (slimming removes it) and is read-only where the
check imports it, so the check's interpreter compiles every module it imports
from source, one after the other, on one core: on the data set (numpy pandas
scipy) three quarters of the check, and again in every later check of the
same build (slim's rollback checks again; a crash restarts the check).

With warm-up, a verifier's checks (CPython 3.8+, not while tracing which files
the imports open) share a bytecode cache outside the bundle: a temporary
directory, in memory when there is room, mounted at :data:`ROOT_PREFIX` in a
clean root.  The check process sets it as ``sys.pycache_prefix`` after its
start-up and writes there what it compiles; the cache is seeded first with
the interpreter's own pycs, which the importer no longer looks for in
``__pycache__`` once a prefix is set.  A later check reads what an earlier one
compiled.  When the machine has a CPU the build leaves idle, a second process
of the same interpreter in the same place, the warmer
(:mod:`fcslim.verify.warm_child`), runs beside each check at idle priority: it
predicts from the sources which files the check will compile and compiles
them from the last to the first, so the two meet in the middle (the check
compiles from the first; past that point each finds the other's pycs).  The
first check of a build without a warmer runs exactly as without warm-up.

The proof is unchanged: the check is still one process importing every module
in order; every pyc it reads was compiled by the same interpreter from the
same file (by itself, an earlier check or the warmer), or is the one it would
have read without a prefix, and the importer checks it against its source
(mtime and size) as always.  The warmer never imports a bundle file, is best
effort (a warmer that fails or never starts leaves the check as it was) and
is killed when its check ends.  The cache goes with the verifier.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from fcslim.core.runs import run_is_over, run_proof

FIRST_PYTHON = (3, 8)  # sys.pycache_prefix
ROOT_PREFIX = "/tmp/fcslim-pycache"  # on the root's fresh tmpfs /tmp
NAME = "fcslim-pycache-"
RUN_RECORD = ".fcslim-run.json"  # which run made a cache (a killed run's is swept by the next)
SHARED_MEMORY = "/dev/shm"
SEEDING = 30  # seconds; it takes 0.04 s here (513 links in bullseye's root, 1,636 for pyenv's 3.10)
MEMORY_ROOM = 1 << 30  # the data set's pycs take 11 MiB


def spare_cpu() -> bool:
    """Whether a warmer can have a CPU the build leaves idle.  On two CPUs
    it cannot: while the check runs the build measures the tree on both, and
    a warmer there cost the build more than it saved the check (bench/README.md)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return usable > 2


def supported(version: Sequence[int]) -> bool:
    """Whether an interpreter of ``version`` can read a pycache prefix."""
    return tuple(version[:2]) >= FIRST_PYTHON


class PycachePrefix:
    """A bytecode cache outside the bundle, shared by one verifier's checks
    and warmers; removed when the verifier is (or at exit).  In memory
    (/dev/shm) when there is room: on this machine's disk, the check writing
    its pycs cost it 17% more time, in memory 3%."""

    def __init__(self) -> None:
        where = memory_dir()
        sweep(Path(where or tempfile.gettempdir()))
        self.path = Path(tempfile.mkdtemp(prefix=NAME, dir=where))
        (self.path / RUN_RECORD).write_text(json.dumps(run_proof()))
        self.remove = weakref.finalize(self, shutil.rmtree, str(self.path), True)


def sweep(directory: Path) -> None:
    """Remove the caches runs that were killed left in ``directory``."""
    for leftover in directory.glob(NAME + "*"):
        try:
            proof = json.loads((leftover / RUN_RECORD).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(proof, dict) and run_is_over(proof):
            shutil.rmtree(leftover, ignore_errors=True)


def memory_dir() -> str | None:
    """/dev/shm when it is a writable directory with 1 GiB free, else None
    (the default temporary directory)."""
    try:
        found = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    free = found.f_bavail * found.f_frsize
    return SHARED_MEMORY if free >= MEMORY_ROOM and os.access(SHARED_MEMORY, os.W_OK) else None


@functools.lru_cache(maxsize=1)
def child_source() -> str:
    return Path(__file__).with_name("warm_child.py").read_text(encoding="utf-8")


def warmer_argv(python: str, flags: Sequence[str], paths: Sequence[str], modules: Sequence[str],
                prefix: str) -> list[str]:
    """The warmer for a check of ``modules`` run as ``python FLAGS -c ...``
    with ``paths`` first on ``sys.path`` and ``prefix`` as its cache."""
    return [python, *flags, "-c", child_source(), json.dumps(list(paths)), json.dumps(list(modules)), prefix]


def seed_argv(python: str, flags: Sequence[str], prefix: str) -> list[str]:
    """The run that links the interpreter's own pycs into a new ``prefix``."""
    return [python, *flags, "-c", child_source(), "--seed", prefix]


def idle(pid: int) -> None:
    """Let process ``pid`` run only on a core nothing else wants: the build
    deflates the tree on every core while the check runs, and a warmer that
    took their time would slow the build down (Linux SCHED_IDLE, else the
    lowest priority)."""
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, 19)
        except OSError:
            pass


@contextmanager
def beside(command: Sequence[str] | None, env: Mapping[str, str] | None = None,
           cwd: str | None = None) -> Iterator[None]:
    """Run ``command`` (a warmer) while the body runs, and kill it, with
    every process it started, when the body ends.  A warmer that cannot
    start is no warmer: the body runs alone."""
    proc = None
    if command is not None:
        try:
            proc = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=None if env is None else dict(env), cwd=cwd,
                                    start_new_session=True)
        except OSError:
            proc = None
        else:
            idle(proc.pid)
    try:
        yield
    finally:
        if proc is not None:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
