"""The files a run reads, so that the run never writes or deletes one of them.

Every reader of a user's file (requirement files and their ``-r``/``-c``
includes, locks, profiles, ``[tool.fcslim]`` configs, ``s.yaml``, find-links
directories, a function's code directory...) calls :func:`note_input`.  The
writers in :mod:`fcslim.core.files` and :mod:`fcslim.core.output` ask
:func:`current_inputs` before they replace a file or a directory: a file that is
an input (same path, or the same inode through another name) is never replaced,
and a directory that holds an input is never swapped out.

A run is a :func:`run_scope`: the CLI opens one per command and the library's
entry points (``build``, ``lock``, ``pack``) open one when called directly.
Scopes nest: an inner one is the outer one, so what the CLI read before calling
the library stays protected.  Outside any scope :func:`note_input` does nothing.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


@dataclass
class RunInputs:
    """What one run has read: real paths, and (device, inode) of files."""

    paths: dict[str, Path] = field(default_factory=dict)  # real path -> the path as given
    inodes: dict[tuple[int, int], Path] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # the last component of each real path

    def add(self, path: str | os.PathLike) -> None:
        given = Path(path)
        real = os.path.realpath(given)
        self.paths.setdefault(real, given)
        self.names.add(os.path.basename(real))
        try:
            st = os.stat(real)
        except OSError:
            return
        if not os.path.isdir(real):
            self.inodes.setdefault((st.st_dev, st.st_ino), given)

    def same_file(self, path: str | os.PathLike) -> Path | None:
        """The input ``path`` is (by real path or by inode), if any."""
        try:
            os.lstat(path)
        except FileNotFoundError:
            # Nothing there, not even a link: its real path ends in its own
            # name and it has no inode, so only an input of that name can be
            # it.  (Slimming moves thousands of files to names that do not
            # exist yet; resolving each one's path cost a stat per component.)
            name = os.path.basename(os.fspath(path).rstrip(os.sep))
            if name not in ("", ".", "..") and name not in self.names:
                return None
        except OSError:
            pass
        real = os.path.realpath(path)
        if real in self.paths:
            return self.paths[real]
        try:
            st = os.stat(real)
        except OSError:
            return None
        return self.inodes.get((st.st_dev, st.st_ino))

    def inside(self, directory: str | os.PathLike) -> Path | None:
        """An input that is ``directory`` or lies anywhere below it."""
        real = os.path.realpath(directory)
        prefix = real.rstrip(os.sep) + os.sep
        for candidate, given in sorted(self.paths.items()):
            if candidate == real or candidate.startswith(prefix):
                return given
        return None

    def inode_of(self, key: tuple[int, int]) -> Path | None:
        return self.inodes.get(key)


_CURRENT: ContextVar[RunInputs | None] = ContextVar("fcslim_run_inputs", default=None)


@contextmanager
def run_scope() -> Iterator[RunInputs]:
    """The current run's inputs; opens a run when none is open."""
    current = _CURRENT.get()
    if current is not None:
        yield current
        return
    inputs = RunInputs()
    token = _CURRENT.set(inputs)
    try:
        yield inputs
    finally:
        _CURRENT.reset(token)


def in_run(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate a library entry point that writes: it runs in a run scope."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        with run_scope():
            return fn(*args, **kwargs)

    return wrapper


def note_input(path: str | os.PathLike | None) -> None:
    """Record that the current run reads ``path`` (a file or a directory)."""
    current = _CURRENT.get()
    if current is not None and path is not None and str(path):
        current.add(path)


def current_inputs() -> RunInputs:
    """The inputs of the open run (empty outside a run)."""
    return _CURRENT.get() or RunInputs()
