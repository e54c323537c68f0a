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
compiled.  A second process of the same interpreter in the same place, the
warmer (:mod:`fcslim.verify.warm_child`), predicts from the sources which
files the check will compile and compiles them from the last to the first,
so the two meet in the middle (the check compiles from the first; past that
point each finds the other's pycs).  A build starts the first check's warmer
as soon as uv has installed (``Verifier.warm_early``): the ELF scan and the
slim plan that come before the check use one core, the warmer the other
(data set: the slim-and-verify stage 1.28 -> 1.00 s, a cold build 0.96x).
The warmer goes on beside the check, at the same priority: on two CPUs,
where the build also measures the tree on both while the check runs, that
cost the build less than demoting it to idle priority then (data set 0.97x).
Later checks (slim's repairs) get a warmer of their own, at idle priority,
only when the machine has a CPU to spare: a warmer started with a check
spends its start-up and scan inside the check's window, which on two CPUs
cost the build more than it saved (bench/README.md).  A first check with
no warmer runs exactly as without warm-up.

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
    """Whether a warmer can have a CPU the build leaves idle while a check
    runs.  On two CPUs it cannot: the build measures the tree on both then,
    and a warmer there cost the build more than it saved the check
    (bench/README.md).  (Before the check, one is idle: ``Verifier.warm_early``.)"""
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


class Warmer:
    """A running warmer process and every process it started."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    @classmethod
    def start(cls, command: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
              *, idle_now: bool = True) -> "Warmer | None":
        """Start ``command``; None when it cannot start (no warmer, the check runs alone)."""
        try:
            proc = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=None if env is None else dict(env), cwd=cwd,
                                    start_new_session=True)
        except OSError:
            return None
        if idle_now:
            idle(proc.pid)
        return cls(proc)

    def stop(self) -> None:
        """Kill it (if it still runs) and reap it; calling again does nothing."""
        if self.proc.returncode is None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


@contextmanager
def beside(command: Sequence[str] | Warmer | None, env: Mapping[str, str] | None = None,
           cwd: str | None = None) -> Iterator[None]:
    """Run ``command`` (a warmer; or one already started) while the body
    runs, and kill it, with every process it started, when the body ends.
    A warmer that cannot start is no warmer: the body runs alone."""
    warmer = command if isinstance(command, Warmer) or command is None else Warmer.start(command, env, cwd)
    try:
        yield
    finally:
        if warmer is not None:
            warmer.stop()
