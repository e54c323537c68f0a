"""Writing an output directory atomically.

A bundle is built in a staging directory beside the output, and swapped in only
when every stage has succeeded.  On any failure the previous output is left
exactly as it was and the staging directory is removed.  Output directories that
would put the user's own files at risk are refused up front.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from fcslim.core.errors import OutputRefusedError

_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git", "s.yaml", "template.yml")


def check_output_dir(output: Path, protected_files: Iterable[Path] = ()) -> Path:
    """Refuse an output that is (or contains) something of the user's.

    ``protected_files`` are inputs (requirements, lock, profile): the output may
    not contain them.  The output may not be the current project root (a
    directory with a pyproject.toml, .git, s.yaml…), the home directory or ``/``.
    Returns the resolved output path.
    """
    out = Path(output).expanduser().resolve()
    if out == Path(out.anchor) or out == Path.home().resolve():
        raise OutputRefusedError(
            f"Output directory {out} is the filesystem root or your home directory.",
            "Pass a dedicated directory such as build/ with --output.",
        )
    for protected in protected_files:
        p = Path(protected).expanduser().resolve()
        if p == out or out in p.parents:
            raise OutputRefusedError(
                f"Output directory {out} contains the input file {p}; writing the bundle there would replace it.",
                "Pass a separate directory such as build/ with --output.",
            )
    if out.is_dir():
        markers = [m for m in _PROJECT_MARKERS if (out / m).exists()]
        if markers:
            raise OutputRefusedError(
                f"Output directory {out} looks like a project root (it has {', '.join(markers)}); "
                "fcslim replaces the whole output directory.",
                "Pass a dedicated directory such as build/ with --output.",
            )
    if out.exists() and not out.is_dir():
        raise OutputRefusedError(f"Output path {out} exists and is not a directory.",
                                 "Remove it or pass another --output.")
    return out


@contextmanager
def atomic_directory(output: Path) -> Iterator[Path]:
    """Yield an empty staging directory; on success it replaces ``output``.

    The staging directory sits beside ``output`` (same filesystem, so the swap
    is two renames).  If the body raises, staging is deleted and ``output`` is
    untouched.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f".{output.name}.fcslim-staging-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_into_place(staging, output)


def swap_into_place(staging: Path, output: Path) -> None:
    """Replace ``output`` with ``staging`` with two renames."""
    old = output.with_name(f".{output.name}.fcslim-old-{os.getpid()}")
    if output.exists():
        output.rename(old)
    try:
        staging.rename(output)
    except BaseException:
        if old.exists():
            old.rename(output)
        raise
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
