"""The one way fcslim writes a file in place of another, or moves one.

* :func:`atomic_write` / :func:`atomic_file`: a temporary file in the same
  directory (so the rename cannot cross file systems), written, flushed and
  fsynced, given the mode of the file it replaces (a new file gets the umask's
  0666 default, never mkstemp's 0600), renamed over the path, and the directory
  fsynced.  A reader sees the old bytes or the new ones, never a mix; a crash
  leaves at most a ``.NAME.*.fcslim-tmp`` file beside it.
* :func:`copy_over`: a private copy of a file replaces another (breaks hard
  links into caches before a file is edited).
* :func:`move`: one rename, with the same error handling.

Two rules hold for every write here:

* nothing the current run read is replaced (:mod:`fcslim.core.inputs`);
* an existing file is replaced only when the caller proves fcslim made it
  (``owned``), or the caller writes inside a tree fcslim owns (staging, cache).

Errors the host causes (read-only file system, permission denied, a path
component that is a file, a full disk) become :class:`LocationError` (exit 11)
naming the path and what it was for, through :func:`location_error`.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from fcslim.core.errors import LocationError, OutputRefusedError
from fcslim.core.inputs import current_inputs

TMP_SUFFIX = ".fcslim-tmp"

# errno -> (what happened, what to do); every other OSError stays what it is.
_HOST_ERRNOS = {
    errno.EROFS: ("is on a read-only file system", "Choose a location on a writable file system."),
    errno.EACCES: ("is not {access} by this user (permission denied)",
                   "Fix its permissions (or its directory's), or choose a location this user can use."),
    errno.EPERM: ("may not be changed by this user (operation not permitted)",
                  "Fix its permissions or attributes, or choose another location."),
    errno.ENOSPC: ("cannot be written: the file system is full",
                   "Free some space there, or choose a location on another file system."),
    errno.EDQUOT: ("cannot be written: the disk quota is exhausted",
                   "Free some space within your quota, or choose another location."),
    errno.ENOTDIR: ("cannot be used: a part of its path is a file, not a directory",
                    "Remove or rename that file, or choose another location."),
    errno.ENAMETOOLONG: ("has a name that is too long for the file system", "Choose a shorter path."),
    errno.ELOOP: ("cannot be reached: its path has a symbolic link loop", "Fix the links, or choose another path."),
}


def location_error(exc: OSError, path: str | os.PathLike | None = None, role: str = "file", *,
                   writing: bool = True) -> LocationError | None:
    """A :class:`LocationError` for an ``OSError`` the host caused, else None."""
    known = _HOST_ERRNOS.get(exc.errno or 0)
    if known is None:
        return None
    what, hint = known
    what = what.format(access="writable" if writing else "accessible")
    where = os.path.abspath(path if path is not None else (exc.filename or "."))
    # The file that failed, when it is not just fcslim's temporary or staging name for ``where``
    failed = str(exc.filename or "")
    ours = failed.endswith(TMP_SUFFIX) or ".fcslim-staging-" in os.path.basename(failed)
    detail = f" ({failed})" if failed and not ours and os.path.abspath(failed) != where else ""
    error = LocationError(f"The {role} {where}{detail} {what}.", hint)
    error.__cause__ = exc
    return error


@contextmanager
def host_errors(path: str | os.PathLike, role: str, *, writing: bool = True) -> Iterator[None]:
    """Turn host-caused ``OSError``s raised inside into :class:`LocationError`."""
    try:
        yield
    except OSError as exc:
        mapped = location_error(exc, path, role, writing=writing)
        if mapped is None:
            raise
        raise mapped from exc


def refuse_input(path: str | os.PathLike, role: str) -> None:
    """Refuse to replace ``path`` when the current run reads it."""
    same = current_inputs().same_file(path)
    if same is not None:
        alias = "" if str(same) == str(path) else f" (as {same})"
        raise OutputRefusedError(
            f"The {role} {path} is an input of this run{alias}; writing it would destroy it.",
            "Choose an output path that is none of the files the command reads.",
        )


def check_replaceable(path: str | os.PathLike, role: str, owned: Callable[[Path], bool] | None,
                      hint: str) -> None:
    """Refuse writing ``path`` if it is an input, a directory, or (with
    ``owned``) an existing file fcslim cannot prove it made."""
    path = Path(path)
    refuse_input(path, role)
    if path.is_dir():
        raise OutputRefusedError(f"The {role} {path} is a directory.", hint)
    if owned is not None and (path.exists() or path.is_symlink()) and not (path.is_file() and owned(path)):
        raise OutputRefusedError(f"The {role} {path} already exists and was not written by fcslim, "
                                 "so fcslim will not replace it.", hint)


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)  # no thread-safe reader elsewhere; put it straight back
    os.umask(current)
    return current


def fsync_directory(path: str | os.PathLike) -> None:
    """Make a rename in ``path`` durable (best effort: not every fs can)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | os.PathLike, *, role: str = "file", mode: int | None = None,
                owned: Callable[[Path], bool] | None = None, hint: str = "Choose another path.",
                durable: bool = True) -> Iterator[BinaryIO]:
    """A binary handle whose bytes replace ``path`` when the block ends
    without an exception (nothing changes otherwise).  ``owned`` is called on
    an existing ``path``: False refuses to replace it (exit 3)."""
    path = Path(path)
    check_replaceable(path, role, owned, hint)
    with host_errors(path, role):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.close(fd)
        with open(tmp, "wb") as handle:  # handle.name is the temporary path
            try:
                yield handle
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            except OSError as exc:
                # A failed write to the handle (no file name) is this path's
                # fault; a caller's failed read of a source file is not.
                mapped = location_error(exc, path, role) if exc.filename in (None, tmp) else None
                if mapped is None:
                    raise
                raise mapped from exc
        with host_errors(path, role):
            if mode is None:
                try:
                    mode = os.stat(path).st_mode & 0o7777
                except FileNotFoundError:
                    mode = 0o666 & ~_umask()
            os.chmod(tmp, mode)
            refuse_input(path, role)  # again: the run may have read it meanwhile
            os.replace(tmp, path)
            if durable:
                fsync_directory(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, *, role: str = "file", mode: int | None = None,
                 owned: Callable[[Path], bool] | None = None, hint: str = "Choose another path.",
                 durable: bool = True) -> Path:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically."""
    with atomic_file(path, role=role, mode=mode, owned=owned, hint=hint, durable=durable) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def copy_over(source: str | os.PathLike, dest: str | os.PathLike, *, role: str = "file") -> None:
    """Replace ``dest`` with a copy of ``source`` (contents, mode, times): the
    new inode is ``dest``'s own, so hard links to the old one are untouched."""
    dest = Path(dest)
    with atomic_file(dest, role=role, durable=False) as handle, open(source, "rb") as src:
        shutil.copyfileobj(src, handle, 1 << 20)
    with host_errors(dest, role):
        shutil.copystat(source, dest)


def move(source: str | os.PathLike, dest: str | os.PathLike, *, role: str = "file") -> None:
    """Rename ``source`` to ``dest`` (same file system), replacing ``dest``."""
    refuse_input(dest, role)
    with host_errors(dest, role):
        os.replace(source, dest)


def replace_directory(new: str | os.PathLike, dest: str | os.PathLike, aside: str | os.PathLike) -> None:
    """``new`` becomes ``dest`` by renames (same file system); a previous
    ``dest`` is moved to ``aside`` first (the caller removes it) and put back
    if the second rename fails."""
    new, dest, aside = Path(new), Path(dest), Path(aside)
    fsync_directory(new)
    moved = False
    if os.path.lexists(dest):
        os.rename(dest, aside)
        moved = True
    try:
        os.rename(new, dest)
    except BaseException:
        if moved:
            os.rename(aside, dest)
        raise
    fsync_directory(dest.parent)


def remove_tree(path: str | os.PathLike) -> None:
    """Delete a file or a tree fcslim made (staging, a replaced output, a
    cache entry), even one with read-only files or directories in it; a
    missing path is not an error."""

    def retry_writable(func, failed, _exc) -> None:
        try:
            os.chmod(os.path.dirname(failed), 0o755)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o755)
            func(failed)
        except OSError:
            pass

    path = Path(path)
    if path.is_symlink() or path.is_file():
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except PermissionError:
            os.chmod(path.parent, 0o755)
            path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=retry_writable)


def remove_tree_soon(path: str | os.PathLike) -> Callable[[], None]:
    """Start :func:`remove_tree` of ``path`` in a thread and return the
    function that waits for it: deleting thousands of files waits on the disk
    (each directory's removal is a journal write), which the caller can
    spend working.  Only for a tree nothing reads any more, such as slim's
    backup once the checks are done; what is left on failure is the
    caller's to remove (its staging directory's removal removes it)."""

    def remove() -> None:
        try:
            remove_tree(path)
        except OSError:
            pass

    worker = threading.Thread(target=remove, name="fcslim-remove-tree")
    worker.start()
    return worker.join

