"""Whether the process that left something behind is still running.

Staging directories, cache leftovers and locks carry the process id of the run
that made them.  A process id alone proves little (ids are reused, and another
machine or container may share the directory), so a run records a proof:
host name, boot id, process id and the process's start time.  The run is over
when it was on this host and either the machine rebooted since, no process has
that id, or the process with that id started at another time.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (this process always does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def run_proof() -> dict:
    """What identifies this run for later ones."""
    pid = os.getpid()
    return {"written_by": "fcslim", "pid": pid, "host": socket.gethostname(), "boot": boot_id(),
            "start": process_start(pid)}


def run_is_over(proof: dict) -> bool:
    """Whether the run that wrote ``proof`` has certainly ended (False when it
    cannot be told, e.g. it ran on another host)."""
    pid = proof.get("pid")
    if proof.get("written_by") != "fcslim" or not isinstance(pid, int) or proof.get("host") != socket.gethostname():
        return False
    boot = boot_id()
    if boot and proof.get("boot") and proof["boot"] != boot:
        return True
    if not pid_alive(pid):
        return True
    start = process_start(pid)
    return start is not None and proof.get("start") is not None and start != proof["start"]
