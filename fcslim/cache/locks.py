"""Per-key file locks: ``fcntl.flock``, re-entrant within a process.

Threads of one process serialise on a per-path RLock and share one descriptor;
other processes meet the flock.  A forked child forgets its parent's table (the
inherited descriptors keep the parent's locks, which is right) and locks for
itself.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


# --------------------------------------------------------------------------- locks

_lock_table_guard = threading.Lock()
# lock path -> [thread RLock, fd or None, hold count, mode]
_lock_table: dict[str, list[Any]] = {}


def _forget_locks_in_child() -> None:
    # A forked child does not hold its parent's locks: it must flock for itself
    # (the inherited descriptors keep the parent's locks alive, which is right).
    global _lock_table_guard, _lock_table
    _lock_table_guard = threading.Lock()
    _lock_table = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


@contextmanager
def flock(path: Path, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """A per-path flock, re-entrant within this process (threads serialise).

    Yields True when held; with ``blocking=False`` yields False instead of
    waiting when another process holds it.
    """
    key = str(path)
    with _lock_table_guard:
        slot = _lock_table.setdefault(key, [threading.RLock(), None, 0, None])
    rlock: threading.RLock = slot[0]
    if not rlock.acquire(blocking=blocking):
        yield False
        return
    try:
        if slot[2] == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            flags = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            if not blocking:
                flags |= fcntl.LOCK_NB
            try:
                fcntl.flock(fd, flags)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    yield False
                    return
                raise
            slot[1], slot[3] = fd, ("sh" if shared else "ex")
        slot[2] += 1
        try:
            yield True
        finally:
            slot[2] -= 1
            if slot[2] == 0:
                fd, slot[1], slot[3] = slot[1], None, None
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
    finally:
        rlock.release()


@contextmanager
def exclusive_within(path: Path) -> Iterator[None]:
    """Exclusive lock for a discard/replace, upgrading a shared hold of ours."""
    with flock(path):
        slot = _lock_table[str(path)]
        upgraded = slot[3] == "sh"
        if upgraded:
            fcntl.flock(slot[1], fcntl.LOCK_EX)
        try:
            yield
        finally:
            if upgraded:
                fcntl.flock(slot[1], fcntl.LOCK_SH)


# --------------------------------------------------------------------------- entries

