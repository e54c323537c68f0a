"""Where fcslim's data files live, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # fcslim/


def data_dir() -> Path:
    """``fcslim/_data`` in an installed wheel, else the checkout's ``data/``."""
    installed = _PACKAGE_DIR / "_data"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "data"


def data_path(name: str) -> Path:
    return data_dir() / name
