"""The ``--lock`` part of a build: the lock a build installs from, reused
when it is current for the input and target, else made now (and written only
after the bundle was swapped in, by :func:`fcslim.pipeline.build`).  Imported
only by builds that ask for a lock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from fcslim.build_spec import BuildOptions
from fcslim.core.errors import InputError
from fcslim.core.hashing import file_sha256
from fcslim.resolve.inputs import InputSpec, Materialised, materialise, named_for_user, open_input
from fcslim.resolve.lock import LockResult, existing_lock_is_current, lock_text
from fcslim.resolve.lockfile import lock_format, lock_pins
from fcslim.target.profile import Profile


def lock_for_build(options: BuildOptions, spec: InputSpec, given: Materialised, profile: Profile, tmp: Path,
                   run: Callable[..., Any]):
    """``--lock``: the lock to install from (reused when current, else made
    now and written after the swap).  Returns (lock result, the lock's text to
    write or None, the file to install from, the install options)."""
    if spec.exact:
        raise InputError(f"{spec.display} is already a lock of exact files; --lock would only copy it.",
                         "Leave out --lock, or pass the loose input (pyproject.toml, requirements.in).")
    install_options = options.install
    pending_lock_text = None
    fmt = lock_format(Path(options.lock))
    if existing_lock_is_current(options.lock, given.path, profile):
        lock_path = Path(options.lock)
        text = lock_path.read_text()
        lock_result = LockResult(lock_path, profile, lock_pins(text, fmt), file_sha256(lock_path), reused=True)
    else:
        with named_for_user(given):
            pending_lock_text, source_sha = run(
                "lock", lock_text, given.path, profile, options.install, fmt, spec.display)
        lock_path = tmp / Path(options.lock).name
        lock_path.write_text(pending_lock_text)
        lock_result = LockResult(Path(options.lock), profile, lock_pins(pending_lock_text, fmt),
                                 file_sha256(lock_path), source_sha)
    install_from = lock_path
    if fmt == "pylock.toml":  # installed as any pylock.toml is: exactly its files
        install_from = materialise(open_input(lock_path), profile, tmp / "lock").path
        install_options = replace(options.install, no_deps=True)
    return lock_result, pending_lock_text, install_from, install_options
