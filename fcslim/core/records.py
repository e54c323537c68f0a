"""The records a bundle carries under ``.fcslim/``, read and written here.

``install.json`` (what resolve installed, for which profile), ``libraries.json``
(what fetch added), ``slim.json``, ``prune.json``, ``warnings.json`` … are
JSON objects.  Readers are tolerant: a missing or unreadable record reads as
None (a bundle built by another tool, or slimmed by hand), and each stage
decides what that means.  Writes are atomic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from fcslim.core.errors import InputError
from fcslim.core.files import atomic_write

RECORDS_DIR = ".fcslim"
INSTALL = "install.json"
LIBRARIES = "libraries.json"


def record_path(root: str | Path, name: str) -> Path:
    return Path(root) / RECORDS_DIR / name


def read_record(root: str | Path, name: str, *, strict: bool = False) -> dict[str, Any] | None:
    """The JSON object of ``.fcslim/<name>``, or None when it is missing or
    not an object.  An unreadable one is None too, or with ``strict`` an
    :class:`InputError` naming it."""
    path = record_path(root, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        if strict:
            raise InputError(f"{path} is not valid JSON ({exc}).",
                             f"Delete it or run the stage that writes {name} again.") from exc
        return None
    return data if isinstance(data, dict) else None


def write_record(root: str | Path, name: str, data: dict[str, Any]) -> Path:
    """Write ``.fcslim/<name>`` in one rename."""
    return atomic_write(record_path(root, name), json.dumps(data, indent=2, sort_keys=False) + "\n",
                        role="build record", durable=False)


def installed_files(root: str | Path) -> dict[str, list[str]]:
    """Canonical distribution name → its files, from ``install.json``: the
    owner list that survives slimming, which deletes RECORD files."""
    record = read_record(root, INSTALL) or {}
    out: dict[str, list[str]] = {}
    for dist in record.get("distributions") or []:
        if isinstance(dist, dict) and dist.get("name"):
            out[canonicalize_name(str(dist["name"]))] = [str(f) for f in dist.get("files") or []]
    return out


def installed_profile(root: str | Path) -> dict[str, Any] | None:
    """The profile ``install.json`` records (as :meth:`Profile.to_dict` wrote
    it), or None."""
    record = read_record(root, INSTALL) or {}
    profile = record.get("profile")
    return profile if isinstance(profile, dict) else None
