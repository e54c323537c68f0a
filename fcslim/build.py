"""One build: requirements in, a bundle directory out, swapped in atomically.

:func:`build` runs the pipeline over a staging directory beside the output:

    check_output_dir → atomic_directory(staging) → [lock] → install → install.json
    → (later stages: scan/fetch, slim, verify, report, pack) → swap

If anything fails, the staging directory is removed and the previous output is
left exactly as it was; a ``--lock`` file is written only after the bundle was
swapped in.  Nothing else outside the output directory changes (uv's cache
excepted).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .lockfile import LockResult, existing_lock_is_current, file_sha256, lock_text, parse_pins, write_atomically
from .output import atomic_directory, check_output_dir
from .resolve import InstallOptions, InstallResult, install
from .target import Profile

RECORDS_DIR = ".fcslim"
INSTALL_RECORD = "install.json"
SCHEMA = 1


@dataclass(frozen=True)
class BuildOptions:
    """Everything one ``fcslim resolve`` run needs.

    ``lock`` names a lock file: REQUIREMENTS is pinned for the target into it
    (unless it already holds a lock of the same input for the same target) and
    the bundle is installed from it with hashes checked.  The flags after
    ``install`` belong to later stages and are carried for them.
    """

    requirements: Path
    profile: Profile
    output: Path
    install: InstallOptions = field(default_factory=InstallOptions)
    lock: Path | None = None
    slim: bool = True
    fetch: bool = True
    verify: bool = True
    compile: bool = False
    pack_layout: str | None = None
    debian_mirror: str | None = None
    python: str | None = None


@dataclass
class BuildResult:
    output: Path
    profile: Profile
    install: InstallResult
    lock: LockResult | None = None
    records: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def install_record(result: InstallResult) -> dict:
    """The JSON ``.fcslim/install.json`` holds (schema 1)."""
    return {
        "schema": SCHEMA,
        "profile": result.profile.to_dict(),
        "distributions": [d.to_dict() for d in result.distributions],
        "requirements": result.requirements_record(),
        "lock_sha256": result.lock_sha256,
    }


def write_record(root: Path, name: str, data: dict) -> Path:
    directory = Path(root) / RECORDS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def build(options: BuildOptions) -> BuildResult:
    """Build the bundle ``options`` describe into ``options.output``."""
    started = time.monotonic()
    profile = options.profile
    if options.debian_mirror:
        profile = profile.with_debian_mirror(options.debian_mirror)
    protected = [options.requirements]
    if options.lock:
        protected.append(options.lock)
    if profile.source not in ("built-in", ""):
        protected.append(Path(profile.source))
    output = check_output_dir(options.output, protected_files=protected)

    lock_result: LockResult | None = None
    pending_lock_text: str | None = None
    with tempfile.TemporaryDirectory(prefix="fcslim-build-") as tmp:
        install_from = Path(options.requirements)
        if options.lock:
            if existing_lock_is_current(options.lock, options.requirements, profile):
                install_from = Path(options.lock)
                text = install_from.read_text()
                lock_result = LockResult(install_from, profile, parse_pins(text), file_sha256(install_from),
                                         reused=True)
            else:
                pending_lock_text, source_sha = lock_text(options.requirements, profile, options.install)
                install_from = Path(tmp) / Path(options.lock).name
                install_from.write_text(pending_lock_text)
                lock_result = LockResult(Path(options.lock), profile, parse_pins(pending_lock_text),
                                         file_sha256(install_from), source_sha)

        with atomic_directory(output) as staging:
            result = install(install_from, profile, staging, options.install)
            if options.lock:
                result.requirements_path = Path(options.lock)
            records = {"install": write_record(staging, INSTALL_RECORD, install_record(result))}

            # ---- later stages (integrator): each works on `staging` and writes its
            # ---- record into staging/.fcslim/ before the swap.
            #   if options.fetch:   fetch_missing(staging, profile, mirror=options.debian_mirror)
            #   if options.slim:    slim(staging, profile, verify=options.verify, python=options.python)
            #   elif options.verify: verify_imports(staging, profile, python=options.python)
            #   if options.compile: compile_bytecode(staging, profile, python=options.python)
            #   build_report(staging, profile); check_limits(...)
            #   if options.pack_layout: pack(staging, <zip path>, options.pack_layout, profile)
            # ---- end of later stages

        if pending_lock_text is not None and options.lock:
            write_atomically(Path(options.lock), pending_lock_text)

    result.dest = output
    return BuildResult(
        output=output,
        profile=profile,
        install=result,
        lock=lock_result,
        records={k: output / v.relative_to(staging) for k, v in records.items()},
        seconds=time.monotonic() - started,
    )
