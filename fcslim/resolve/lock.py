"""``fcslim lock``: resolve requirements for a target and write the lock.

The lock's format (header, pins, target record) lives in
:mod:`fcslim.resolve.lockfile`; resolving is :func:`compile_requirements`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fcslim.core.errors import InputError
from fcslim.core.hashing import file_sha256
from fcslim.core.inputs import in_run
from fcslim.resolve.install import InstallOptions, compile_requirements
from fcslim.resolve.lockfile import (
    LockedPin,
    check_lock_output,
    lock_format,
    lock_header,
    lock_pins,
    read_lock_source,
    read_lock_target,
    target_differences,
    write_atomically,
)
from fcslim.resolve.requirements import parse_requirements
from fcslim.target.profile import Profile


@dataclass
class LockResult:
    """The lock written and what it pins."""

    output: Path
    profile: Profile
    pins: list[LockedPin] = field(default_factory=list)
    sha256: str = ""
    source_sha256: str = ""
    reused: bool = False




def lock_text(requirements_in: Path, profile: Profile, options: InstallOptions | None = None,
              fmt: str = "requirements.txt", source_name: str | None = None) -> tuple[str, str]:
    """Resolve ``requirements_in`` for ``profile``; returns (lock text, source sha256).

    ``fmt`` is "requirements.txt" (pip-tools) or "pylock.toml" (PEP 751, uv's
    output for the target); both start with the same comment header (TOML
    comments: PEP 751 readers skip them).  ``source_name`` names the user's
    input there when ``requirements_in`` was made from one (pyproject.toml)."""
    source_sha = parse_requirements(requirements_in).sha256()
    body = compile_requirements(requirements_in, profile, options, fmt)
    return lock_header(profile, Path(source_name or requirements_in), source_sha) + body, source_sha


def existing_lock_is_current(output: Path, requirements_in: Path, profile: Profile) -> bool:
    """Whether ``output`` was locked from this very input for this target."""
    if not Path(output).is_file():
        return False
    header = []
    for line in Path(output).read_text(errors="replace").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    recorded = read_lock_target(header)
    return (
        recorded is not None
        and not target_differences(recorded, profile)
        and recorded.get("python") == profile.python_full_version
        and read_lock_source(header) == parse_requirements(requirements_in).sha256()
    )


@in_run
def lock(requirements_in: Path, profile: Profile, output: Path, options: InstallOptions | None = None, *,
         reuse: bool = False, source_name: str | None = None) -> LockResult:
    """Write a lock of ``requirements_in`` for ``profile`` to ``output``, in the
    format its name asks for (:func:`fcslim.resolve.lockfile.lock_format`).

    The file is replaced in one rename, only after resolution succeeded.  With
    ``reuse``, an ``output`` already locked from the same input for the same
    target is kept as it is.
    """
    requirements_in = Path(requirements_in)
    output = Path(output)
    if output.resolve() == requirements_in.resolve():
        raise InputError(
            f"The lock output {output} is the input file itself; locking would overwrite your requirements.",
            "Write the lock to another file, e.g. --output requirements.lock.",
        )
    parse_requirements(requirements_in)  # notes every file it includes: inputs the lock may not replace
    check_lock_output(output)
    if reuse and existing_lock_is_current(output, requirements_in, profile):
        text = output.read_text()
        return LockResult(output, profile, lock_pins(text, lock_format(output)), file_sha256(output),
                          read_lock_source(text.splitlines()) or "", reused=True)
    text, source_sha = lock_text(requirements_in, profile, options, lock_format(output), source_name)
    write_atomically(output, text)
    return LockResult(output, profile, lock_pins(text, lock_format(output)), file_sha256(output), source_sha)
