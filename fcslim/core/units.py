"""Sizes in one unit system: powers of 1024, printed as B, KiB, MiB, GiB.

The providers' limits are powers of 1024 whatever they call them (FC's
"100 MB" code limit is 104857600 bytes, Lambda's "50 MB" is 52428800), so
fcslim reads ``100MB``, ``100MiB``, ``100M`` and ``104857600`` as one size
(``K/KB/KiB`` is 1024, ``G/GB/GiB`` is 1024³) and prints every size with
:func:`format_size`.
"""

from __future__ import annotations

import re

from fcslim.core.errors import InputError

UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int) -> int:
    """``"100MB"`` → 104857600 (see the module docstring for the units)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise InputError(f"Size {text} must be positive.", "Pass a size such as 100MB or 52428800.")
        return text
    match = _SIZE_RE.match(str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in UNITS:
        raise InputError(
            f"Cannot read the size {text!r}.",
            "Write a number of bytes or a number with K, M or G (100MB, 50MiB, 250M); units are powers of 1024.",
        )
    value = int(float(match.group(1)) * UNITS[unit])
    if value <= 0:
        raise InputError(f"Size {text!r} must be positive.", "Pass a size such as 100MB.")
    return value


def format_size(n: int | float | None, signed: bool = False, *, decimals: int = 1) -> str:
    """Bytes as a short human string in powers of 1024 (``12.3 MiB``); None is ``-``."""
    if n is None:
        return "-"
    sign = ("+" if n > 0 else "-" if n < 0 else "±") if signed else ("-" if n < 0 else "")
    value = float(abs(n))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{sign}{int(value)} B" if unit == "B" else f"{sign}{value:.{decimals}f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
