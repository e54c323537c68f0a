"""The file names that say what an input is (PEP 751's ``pylock.toml``): a
module of its own so that recognising an input does not import its reader."""

from __future__ import annotations


def is_pylock_name(name: str) -> bool:
    """``pylock.toml`` or ``pylock.<name>.toml`` (PEP 751's file names)."""
    if name == "pylock.toml":
        return True
    parts = name.split(".")
    return len(parts) == 3 and parts[0] == "pylock" and parts[2] == "toml" and bool(parts[1])
