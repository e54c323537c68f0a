"""Locks: requirements pinned for one target, with hashes.

``fcslim lock requirements.in --runtime R --output requirements.lock`` writes a
pip-tools style file (``name==version`` lines with ``--hash`` continuations and
``# via`` annotations) resolved for R's Python, ABI, architecture and glibc.
A header line records that target as JSON::

    # fcslim-target: {"runtime": "fc-python3.10", "python": "3.10.13", "abi": "cp310", ...}

``fcslim resolve requirements.lock`` sees the hashes, installs with every hash
checked, and refuses a lock whose recorded target differs from the runtime it
is asked to build for (a lock for Python 3.11 misses ``async-timeout``, which
aiohttp needs on 3.10).

pip-compile is not the engine: it resolves with pip, which evaluates
environment markers for the host interpreter, so a lock made on a 3.11 laptop
for a 3.10 runtime drops 3.10-only dependencies.  uv's ``pip compile
--python-version --python-platform`` judges markers, Requires-Python and tags
for the target, and is faster; its output keeps the pip-tools format, so
pip-sync, ``pip install --require-hashes`` and Renovate read it unchanged.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from fcslim.core.errors import InputError
from fcslim.resolve.requirements import RequirementsFile
from fcslim.target.profile import Profile

TARGET_PREFIX = "# fcslim-target:"
SOURCE_PREFIX = "# fcslim-source:"


@dataclass(frozen=True)
class LockedPin:
    name: str
    version: str
    hashes: tuple[str, ...]


def target_record(profile: Profile) -> dict:
    """What a lock depends on in a profile (nothing else changes resolution)."""
    return {
        "runtime": profile.name,
        "python": profile.python_full_version,
        "abi": profile.abi,
        "arch": profile.arch,
        "glibc": profile.glibc_version,
    }


def target_differences(recorded: dict, profile: Profile) -> list[str]:
    """Fields that differ between a lock's recorded target and ``profile``."""
    current = target_record(profile)
    differ = []
    for key in ("abi", "arch", "glibc"):
        if key in recorded and str(recorded[key]) != str(current[key]):
            differ.append(f"{key} {recorded[key]} (lock) vs {current[key]} ({profile.name})")
    if "python" in recorded:
        lock_minor = ".".join(str(recorded["python"]).split(".")[:2])
        if lock_minor != profile.python_version:
            differ.append(f"python {recorded['python']} (lock) vs {profile.python_full_version} ({profile.name})")
    return differ


def read_lock_target(header: list[str]) -> dict | None:
    for line in header:
        if line.startswith(TARGET_PREFIX):
            try:
                value = json.loads(line[len(TARGET_PREFIX):])
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def read_lock_source(header: list[str]) -> str | None:
    for line in header:
        if line.startswith(SOURCE_PREFIX):
            return line[len(SOURCE_PREFIX):].strip() or None
    return None


def check_lock_target(reqs: RequirementsFile, profile: Profile) -> None:
    """Refuse a lock made by fcslim for a different target."""
    recorded = read_lock_target(reqs.header)
    if recorded is None:
        return  # a lock from pip-compile or by hand: hashes are still checked
    differ = target_differences(recorded, profile)
    if differ:
        raise InputError(
            f"The lock {reqs.path} was made for {recorded.get('runtime', 'another runtime')}, not "
            f"{profile.name}: {'; '.join(differ)}. Markers, Requires-Python and wheel tags were judged for that "
            "target, so its pins may be wrong here.",
            f"Re-create it with `fcslim lock <requirements.in> --runtime {profile.name}`, or build for "
            f"--runtime {recorded.get('runtime', 'the runtime it names')}.",
        )


def parse_pins(text: str) -> list[LockedPin]:
    """``name==version`` lines and their hashes from a lock's text."""
    pins: list[LockedPin] = []
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if not match:
            continue
        hashes = tuple(re.findall(r"--hash=(\S+)", line))
        pins.append(LockedPin(canonicalize_name(match.group(1)), match.group(2), hashes))
    return pins


def lock_header(profile: Profile, requirements_in: Path, source_sha256: str) -> str:
    return (
        f"# Pinned for {profile.name} (CPython {profile.python_full_version}, {profile.abi}, {profile.arch}, "
        f"glibc {profile.glibc_version}) by fcslim; do not edit.\n"
        f"#    fcslim lock {requirements_in.name} --runtime {profile.name}\n"
        f"{TARGET_PREFIX} {json.dumps(target_record(profile), sort_keys=True)}\n"
        f"{SOURCE_PREFIX} {source_sha256}\n"
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
