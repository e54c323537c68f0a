"""Reading TOML inputs (pyproject.toml, uv.lock, pylock.toml) with errors that
name the file: ``tomllib`` from Python 3.11, its original ``tomli`` before."""

from __future__ import annotations

import sys
from pathlib import Path

from fcslim.core.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib


def loads_toml(text: str, where: str) -> dict:
    """Parse ``text``; a syntax error is an InputError naming ``where``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where} is not valid TOML: {exc}.", "Fix the file (or re-create it with the tool that "
                                                                "wrote it) and run again.") from exc


def read_toml(path: Path) -> dict:
    """Read and parse the TOML file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read {path}: {exc}.", "Check the path and that it is UTF-8 text.") from exc
    return loads_toml(text, str(path))
