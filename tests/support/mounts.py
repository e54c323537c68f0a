"""Real read-only and full file systems for tests (root only), and running a
command as a user the file permissions apply to.

    with read_only_bind(directory):      # `mount --bind` + `remount,bind,ro`
        ...                              # writes under directory fail with EROFS
    with tiny_tmpfs(directory, "8k"):    # writes fill it: ENOSPC
        ...
    argv = without_dac_override(argv)    # root without CAP_DAC_OVERRIDE: chmod 555 holds

Each helper returns a reason string from :func:`mount_unavailable` /
:func:`dac_unavailable` when the machine cannot do it, for ``pytest.skip``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def mount_unavailable() -> str | None:
    """Why real mounts cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return "real read-only and tiny mounts need root"
    if not shutil.which("mount") or not shutil.which("umount"):
        return "mount/umount are not installed"
    return None


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")


@contextmanager
def read_only_bind(directory: Path) -> Iterator[Path]:
    """``directory`` bind-mounted onto itself, read-only, for the block."""
    _run(["mount", "--bind", str(directory), str(directory)])
    try:
        _run(["mount", "-o", "remount,bind,ro", str(directory)])
        yield directory
    finally:
        _run(["umount", str(directory)])


@contextmanager
def tiny_tmpfs(directory: Path, size: str = "8k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``directory`` for the block."""
    directory.mkdir(parents=True, exist_ok=True)
    _run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)])
    try:
        yield directory
    finally:
        _run(["umount", str(directory)])


def dac_unavailable() -> str | None:
    """Why a permission-denied case cannot be made here (None when it can)."""
    if os.geteuid() != 0:
        return None  # file modes already apply
    if not shutil.which("setpriv"):
        return "as root, permission tests drop CAP_DAC_OVERRIDE with setpriv (util-linux), which is missing"
    return None


def without_dac_override(argv: list[str]) -> list[str]:
    """``argv`` run so that file modes apply (as root: with every capability
    dropped, so a mode-555 directory cannot be written)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *argv]
