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
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from fcslim.core.errors import InputError
from fcslim.core.files import atomic_write, check_replaceable
from fcslim.resolve.names import is_pylock_name
from fcslim.resolve.pylock import pylock_pins
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
    check_recorded_target(recorded, profile, reqs.path)


def check_recorded_target(recorded: dict, profile: Profile, path: Path) -> None:
    """Refuse the lock at ``path`` (either format) when the target it records is not ``profile``."""
    differ = target_differences(recorded, profile)
    if differ:
        raise InputError(
            f"The lock {path} was made for {recorded.get('runtime', 'another runtime')}, not "
            f"{profile.name}: {'; '.join(differ)}. Markers, Requires-Python and wheel tags were judged for that "
            "target, so its pins may be wrong here.",
            f"Re-create it with `fcslim lock <requirements.in> --runtime {profile.name}`, or build for "
            f"--runtime {recorded.get('runtime', 'the runtime it names')}.",
        )


def lock_format(output: Path) -> str:
    """The format a lock file's name asks for: PEP 751 for ``pylock.toml`` and
    ``pylock.<name>.toml``, pip-tools otherwise."""
    return "pylock.toml" if is_pylock_name(Path(output).name) else "requirements.txt"


def lock_pins(text: str, fmt: str) -> list[LockedPin]:
    """The pins of a lock's text in either format."""
    if fmt == "pylock.toml":
        return [LockedPin(name, version, hashes) for name, version, hashes in pylock_pins(text)]
    return parse_pins(text)


def parse_pins(text: str) -> list[LockedPin]:
    """``name==version`` lines and their hashes from a lock's text."""
    pins: list[LockedPin] = []
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", line)
        version = match.group(2) if match else None
        if not match:
            # `name @ URL` (a PEP 508 URL requirement): the version is the wheel's
            match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*([^\s;]+)", line)
            if not match:
                continue
            version = _wheel_version(match.group(2))
        hashes = tuple(re.findall(r"--hash=(\S+)", line))
        pins.append(LockedPin(canonicalize_name(match.group(1)), version, hashes))
    return pins


def _wheel_version(url: str) -> str:
    """The version in a wheel URL's file name ("" for anything else)."""
    try:
        return str(parse_wheel_filename(unquote(url.rsplit("/", 1)[-1].split("#", 1)[0]))[1])
    except InvalidWheelFilename:
        return ""


def lock_header(profile: Profile, requirements_in: Path, source_sha256: str) -> str:
    return (
        f"# Pinned for {profile.name} (CPython {profile.python_full_version}, {profile.abi}, {profile.arch}, "
        f"glibc {profile.glibc_version}) by fcslim; do not edit.\n"
        f"#    fcslim lock {requirements_in.name} --runtime {profile.name}\n"
        f"{TARGET_PREFIX} {json.dumps(target_record(profile), sort_keys=True)}\n"
        f"{SOURCE_PREFIX} {source_sha256}\n"
    )


LOCK_HINT = ("Pass a lock path that does not exist yet or that fcslim wrote (its header has "
             f"`{TARGET_PREFIX}`); fcslim never replaces another file.")


def is_fcslim_lock(path: Path) -> bool:
    """Whether ``path`` is a lock fcslim wrote (its header names the target)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            for line in handle:
                if not line.startswith("#"):
                    return False
                if line.startswith(TARGET_PREFIX):
                    return True
    except OSError:
        return False
    return False


def check_lock_output(path: Path) -> None:
    """Refuse a lock output fcslim may not replace (before any work is done)."""
    check_replaceable(path, "lock file", is_fcslim_lock, LOCK_HINT)


def write_atomically(path: Path, text: str) -> None:
    """Replace the lock ``path`` with ``text`` in one rename (refusing a file
    fcslim did not write, and any input of the run)."""
    atomic_write(path, text, role="lock file", owned=is_fcslim_lock, hint=LOCK_HINT)
