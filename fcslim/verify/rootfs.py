"""Clean Debian roots of a target's release, and running programs inside them.

A root is made once with ``debootstrap --variant=minbase --include=python3`` and
kept in the cache (``roots/<release>-<arch>``); later runs reuse it.  Programs run
in it through ``unshare --mount`` + ``chroot`` with the bundle bind-mounted
read-only at the runtime's code root, a private ``/proc``, a read-only ``/sys`` and a fresh tmpfs
``/tmp``, so the cached root is never modified by what runs inside it.  This needs
root, ``debootstrap``, ``unshare`` and ``chroot``: :func:`rootfs_support` says
which of those is missing, so callers can report what could not be verified.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from fcslim.core.files import atomic_write, remove_tree, replace_directory
from fcslim.cache.location import cache_subdir
from fcslim.core.errors import FcslimError, EXIT_VERIFY

DEFAULT_MIRROR = "http://deb.debian.org/debian"


class RootfsError(FcslimError):
    """A clean target root could not be made or used (exit 8)."""

    exit_code = EXIT_VERIFY


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str


def rootfs_support() -> str | None:
    """None when clean roots can be built and entered here, else the reason."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "clean target roots need Linux"
    if os.geteuid() != 0:
        return "clean target roots need root (chroot and mount)"
    for tool in ("debootstrap", "unshare", "chroot", "mount"):
        if not shutil.which(tool):
            return f"`{tool}` is not installed (apt-get install debootstrap util-linux)"
    return None


def uses_clean_root(profile) -> bool:
    """Whether ``profile``'s runtime is a plain Debian of its release, so a
    clean root of that release stands for it (else an assembled root does)."""
    return profile.system_image.endswith("-minbase") or profile.provider == "generic"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def root_path(release: str, arch: str = "amd64") -> Path:
    return cache_subdir("roots") / f"{release}-{arch}"


def root_ready(release: str, arch: str = "amd64") -> bool:
    """Whether :func:`ensure_root` (with its default ``include``) would only
    return the cached root."""
    return (root_path(release, arch) / ".fcslim-root-complete").exists()


def ensure_root(
    release: str,
    arch: str = "amd64",
    mirror: str = DEFAULT_MIRROR,
    include: Sequence[str] = ("python3",),
) -> Path:
    """A clean minbase root of ``release`` with ``include`` installed, cached.

    Safe when several processes ask at once: one builds (aside, then renamed
    into place), the others wait on the lock and reuse it.
    """
    reason = rootfs_support()
    if reason:
        raise RootfsError(f"Cannot build a clean Debian {release} root: {reason}.",
                          "Run as root on Linux with debootstrap installed, or skip the in-target check.")
    suffix = "" if tuple(include) == ("python3",) else "+" + "+".join(sorted(include))
    final = root_path(release, arch).with_name(f"{release}-{arch}{suffix}")
    marker = final / ".fcslim-root-complete"
    if marker.exists():
        return final
    with _locked(final.with_name(final.name + ".lock")):
        if marker.exists():
            return final
        staging = final.with_name(final.name + f".building-{os.getpid()}")
        if staging.exists():
            shutil.rmtree(staging)
        argv = [
            "debootstrap", "--variant=minbase", f"--arch={arch}",
            f"--include={','.join(include)}", release, str(staging), mirror,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise RootfsError(
                f"debootstrap of Debian {release} ({arch}) from {mirror} failed: {' / '.join(tail)}.",
                "Check that the mirror is reachable and names that release.",
            )
        for mount_point in ("code", "opt", "proc", "tmp"):
            (staging / mount_point).mkdir(exist_ok=True)
        atomic_write(staging / ".fcslim-root-complete", f"{release} {arch} {mirror}\n", role="root marker")
        aside = final.with_name(final.name + f".old-{os.getpid()}")
        replace_directory(staging, final, aside)
        remove_tree(aside)
    return final


def root_command(
    root: Path,
    argv: Sequence[str],
    *,
    binds: Mapping[str | Path, str] | None = None,
    env: Mapping[str, str] | None = None,
    writable_binds: bool = False,
    writable: Mapping[str | Path, str] | None = None,
    cwd: str = "/",
    wrapper: Sequence[str] = (),
) -> list[str]:
    """The host command that runs ``argv`` inside ``root`` (see
    :func:`run_in_root`, which runs it and waits; a caller that must stop it
    early starts this itself)."""
    root = Path(root)
    script = ["set -e"]
    script.append(f"mount -t proc proc {shlex.quote(str(root / 'proc'))}")
    if (root / "sys").is_dir():  # every real runtime has /sys (hwloc, TBB and ML runtimes read it)
        script.append(f"mount -t sysfs -o ro sysfs {shlex.quote(str(root / 'sys'))}")
    script.append(f"mount -t tmpfs -o mode=1777 tmpfs {shlex.quote(str(root / 'tmp'))}")
    mounts = [(host, inside, writable_binds) for host, inside in (binds or {}).items()]
    mounts += [(host, inside, True) for host, inside in (writable or {}).items()]
    for host, inside, rw in mounts:
        target = shlex.quote(str(root / str(inside).lstrip("/")))
        # Made in the namespace: a mount point under /tmp lives on its fresh tmpfs.
        script.append(f"mkdir -p {target}")
        script.append(f"mount --bind {shlex.quote(str(host))} {target}")
        if not rw:
            script.append(f"mount -o remount,bind,ro {target}")
    full_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    full_env.update(env or {})
    env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in full_env.items())
    inner = " ".join(shlex.quote(a) for a in argv)
    script.append(
        f"exec chroot {shlex.quote(str(root))} /usr/bin/env -i {env_args} "
        f"/bin/sh -c {shlex.quote(f'cd {shlex.quote(cwd)} && exec {inner}')}"
    )
    return [*wrapper, "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", "\n".join(script)]


def run_in_root(
    root: Path,
    argv: Sequence[str],
    *,
    binds: Mapping[str | Path, str] | None = None,
    env: Mapping[str, str] | None = None,
    writable_binds: bool = False,
    writable: Mapping[str | Path, str] | None = None,
    timeout: float | None = 600,
    cwd: str = "/",
    wrapper: Sequence[str] = (),
) -> RunResult:
    """Run ``argv`` inside ``root``.

    ``wrapper`` runs on the host in front of the whole thing (e.g. ``strace
    -f -o FILE``, which then sees every process in the root).

    ``binds`` maps host directories to absolute paths inside the root (e.g. the
    bundle to ``/code``); they are read-only unless ``writable_binds``;
    ``writable`` maps more that are always writable (a scratch directory
    shared with another process).  The environment is exactly ``env`` plus a
    default PATH: nothing leaks in from the host.
    """
    command = root_command(root, argv, binds=binds, env=env, writable_binds=writable_binds, writable=writable,
                           cwd=cwd, wrapper=wrapper)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise RootfsError(f"Command {' '.join(argv)} in the {Path(root).name} root ran over {timeout}s.",
                          "Look for a hang at import time in the bundle.") from exc
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


def runtime_env(profile) -> dict[str, str]:
    """The search paths the profile's runtime sets before it starts Python."""
    return {
        "LD_LIBRARY_PATH": ":".join(profile.library_path),
        "PYTHONPATH": ":".join(profile.python_path),
    }
