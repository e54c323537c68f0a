"""Which files a run opened: strace from the host, following every process.

Why strace and not an audit hook: Python's audit hooks (``open`` events) and
``/proc/self/maps`` miss what C code opens and closes again (TensorFlow's and
OpenCV's data files, ``dlopen`` of a library that is then unloaded, files a
subprocess reads).  ``strace -f`` on the host sees the syscalls of every
process in the clean root, whatever opened them; it needs ptrace (root, as the
clean roots already do) and the ``strace`` tool.

Only successful ``open``/``openat``/``openat2``/``creat``/``execve``/
``execveat`` calls count.  Paths are normalised (``numpy/_core/../../numpy.libs``
→ ``numpy.libs``).  Each open is recorded twice: the path as the process
named it (inside a chroot: ``/code/...``) and, from ``-y``, the opened file as
the host sees it (relative paths and links resolved: ``<root>/code/...``);
callers take the paths under either prefix.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

SYSCALLS = ("open", "openat", "openat2", "creat", "execve", "execveat")
_CALL = re.compile(r"^\s*(?:\[pid\s+)?(\d+)\]?\s+(?P<name>open|openat|openat2|creat|execve|execveat)\("
                   r"(?:(?:AT_FDCWD|\d+)(?:<(?P<dirpath>[^>]*)>)?,\s*)?\"(?P<path>(?:[^\"\\]|\\.)*)\"")
_RESUMED = re.compile(r"^\s*(?:\[pid\s+)?(\d+)\]?\s+<\.\.\. (open|openat|openat2|creat|execve|execveat) resumed>")
_RESULT = re.compile(r"=\s*(-?\d+)(?:<(?P<fdpath>[^>]*)>)?(?:\s+\w+.*)?$")


@dataclass(frozen=True)
class Tracer:
    """How to wrap a command so its opens land in ``output``."""

    strace: str
    output: Path

    def argv(self) -> list[str]:
        return [self.strace, "-f", "-qq", "-y", "-s", "4096", "-e", f"trace={','.join(SYSCALLS)}",
                "-o", str(self.output)]


def tracer_support() -> str | None:
    """None when runs can be traced here, else why not."""
    if shutil.which("strace") is None:
        return "`strace` is not installed (apt-get install strace)"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "tracing the clean root needs root (ptrace of its processes)"
    return None


def make_tracer(output: Path) -> Tracer:
    strace = shutil.which("strace")
    if strace is None:
        raise FileNotFoundError("strace")
    return Tracer(strace, Path(output))


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    raw = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


def opened_paths(trace: str | Iterable[str]) -> set[str]:
    """Every path a successful open or exec named in ``trace`` (strace
    ``-f -y`` output: its text, or its lines, e.g. an open file read line by
    line), normalised and absolute."""
    found: set[str] = set()
    pending: dict[str, str] = {}
    for line in trace.splitlines() if isinstance(trace, str) else trace:
        call = _CALL.match(line)
        if call:
            path = _unescape(call.group("path"))
            if not path.startswith("/") and call.group("dirpath"):
                path = posixpath.join(call.group("dirpath"), path)
            if "<unfinished" in line:
                pending[call.group(1)] = path
                continue
            _record(found, path, _RESULT.search(line))
            continue
        resumed = _RESUMED.match(line)
        if resumed and resumed.group(1) in pending:
            _record(found, pending.pop(resumed.group(1)), _RESULT.search(line))
    return found


def _record(found: set[str], path: str, result: re.Match | None) -> None:
    if result is None or int(result.group(1)) < 0:
        return
    if path.startswith("/"):
        found.add(posixpath.normpath(path))
    if result.group("fdpath"):  # -y: the opened file as the host sees it (relative paths resolved)
        found.add(posixpath.normpath(_unescape(result.group("fdpath"))))


def under(paths: set[str], *prefixes: str) -> set[str]:
    """The paths below any of the directories ``prefixes``, relative to it."""
    out: set[str] = set()
    for prefix in prefixes:
        base = prefix.rstrip("/") + "/"
        out.update(p[len(base):] for p in paths if p.startswith(base))
    return out
