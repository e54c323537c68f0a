"""Run-time data a Debian package makes at install time, made for the bundle.

Some libraries read a file no package ships: the package's maintainer script
writes it when the package is installed.  Graphviz is the case in point:
``libgvc6``'s postinst runs ``libgvc6-config-update -c``, which loads every
plugin in the plugin directory and writes ``config6a`` beside them; without
that file ``dot`` knows no layout and no output format.  The recipe is data
(``generate`` in ``data/runtime_data.json``): which program of which package
to run, with which arguments and variables, and which file it must leave.

The program is taken from the verified ``.deb`` into a temporary directory
(never into the bundle) and run once, at build time, against the bundle's own
relocated files, with ``LD_LIBRARY_PATH`` on the bundle's ``lib/``, in a root
that stands for the target (the clean Debian root, or the assembled root of
an image profile: :mod:`fcslim.verify.rootfs`), because a plugin that needs a
library the runtime has and the build machine lacks would otherwise be left
out of the file without a word.  Where no such root can be entered, it runs on
the build machine when that can run the target's programs (same architecture,
a glibc at least as new) and the note says so; elsewhere the file is not made
and a note says what will not work.  The file
then travels with the bundle like any other data file; its paths are relative
to the directory it sits in, so it holds wherever the bundle is unpacked.
"""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fcslim.fetch.placement import OpenPackages
from fcslim.fetch.record import FetchedDataFile
from fcslim.debian.archive import DebianRelease
from fcslim.target.profile import Profile
from fcslim.verify import rootfs

# platform.machine() of a build machine that runs a profile's programs natively.
_NATIVE_MACHINES = {"x86_64": {"x86_64", "amd64"}, "aarch64": {"aarch64", "arm64"}}
_TIMEOUT = 60


@dataclass(frozen=True)
class GenerateRule:
    """One ``generate`` entry of a library in ``data/runtime_data.json``."""

    path: str  # the file to make, a glob relative to the bundle's library directory
    package: str  # the Debian package holding the program
    program: str  # its member path, e.g. usr/sbin/libgvc6-config-update
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # variable -> glob relative to the bundle's library directory


@dataclass(frozen=True)
class PendingGeneration:
    """A rule to run once the fetch has settled (all libraries placed)."""

    soname: str
    why: str
    rule: GenerateRule
    base: str  # the bundle's library directory, relative to the bundle root


def host_runs_target(profile: Profile) -> str | None:
    """None when this machine can run ``profile``'s programs, else why not."""
    machine = platform.machine()
    if machine not in _NATIVE_MACHINES.get(profile.arch, {profile.arch}):
        return f"this machine is {machine} and {profile.name} is {profile.arch}"
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # "glibc 2.36"
        host = tuple(int(part) for part in version.split(".")[:2])
    except (ValueError, OSError, AttributeError):
        return "this machine's C library is not glibc"
    if name != "glibc" or host < tuple(profile.glibc):
        return f"this machine's glibc {version} is older than {profile.name}'s {profile.glibc_version}"
    return None


def target_root(profile: Profile) -> tuple[Path | None, str | None]:
    """A root standing for ``profile``'s runtime, or why there is none."""
    reason = rootfs.rootfs_support()
    if reason:
        return None, reason
    try:
        if rootfs.uses_clean_root(profile):
            return rootfs.ensure_root(profile.debian.release, profile.debian_arch, mirror=profile.debian.mirror), None
        # Imported here: an image profile's root is assembled with the ELF reader.
        from fcslim.verify.assembled import ensure_assembled_root
        return ensure_assembled_root(profile).path, None
    except rootfs.RootfsError as exc:
        return None, str(exc)


@dataclass(frozen=True)
class _Outcome:
    status: int
    output: str
    where: str  # "" when it could not run anywhere
    why_not: str = ""  # why no target root was used


def _run(root: Path, lib_dir: str, program: Path, args: tuple[str, ...], env: dict[str, str],
         profile: Profile) -> _Outcome:
    """Run ``program`` against the bundle at ``root``; ``env`` values are
    paths relative to the bundle root."""
    inside, why_not = target_root(profile)
    if inside is not None:
        bundle, scratch = "/fcslim-generate/bundle", "/fcslim-generate/program"
        env_in = {name: f"{bundle}/{value}" for name, value in env.items()}
        env_in["LD_LIBRARY_PATH"] = f"{bundle}/{lib_dir}"
        result = rootfs.run_in_root(inside, [f"{scratch}/{program.name}", *args], env=env_in,
                                    binds={str(root.resolve()): bundle, str(program.parent): scratch},
                                    writable_binds=True, timeout=_TIMEOUT)
        return _Outcome(result.returncode, result.stderr or result.stdout, inside.name)
    host_reason = host_runs_target(profile)
    if host_reason:
        return _Outcome(-1, "", "", f"no root stands for {profile.name} here ({why_not}) and {host_reason}")
    env_host = {name: str((root / value).resolve()) for name, value in env.items()}
    proc = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=_TIMEOUT,
                          cwd=program.parent, env={"PATH": "/usr/bin:/bin", **env_host,
                                                   "LD_LIBRARY_PATH": str((root / lib_dir).resolve())})
    return _Outcome(proc.returncode, proc.stderr or proc.stdout, "this machine", why_not or "")


def _one(root: Path, base: str, pattern: str) -> Path | None:
    matches = sorted((root / base).glob(pattern))
    return matches[0] if matches else None


def run_generation(root: Path, lib_dir: str, pending: PendingGeneration, profile: Profile,
                   release: DebianRelease, packages: OpenPackages) -> tuple[FetchedDataFile | None, str | None]:
    """Make the file ``pending`` names: (its record, a note or None), or (None,
    a note saying why it was not made and what that costs)."""
    rule = pending.rule
    lost = f"{pending.soname}: {rule.path} was not made ({{}}), so {pending.why.split(';')[0]}."
    entry = release.newest(rule.package)
    if entry is None:
        return None, lost.format(f"Debian {release.release} has no {rule.package}")
    deb, _ = packages.get(entry)
    if deb.resolve(rule.program) is None:
        return None, lost.format(f"{entry.name} {entry.version} has no {rule.program}")
    env: dict[str, str] = {}
    for name, pattern in rule.env:
        target = _one(root, pending.base, pattern)
        if target is None:
            return None, lost.format(f"nothing in the bundle matches {pattern} for {name}")
        env[name] = target.relative_to(root).as_posix()
    with tempfile.TemporaryDirectory(prefix="fcslim-generate-") as scratch:
        program = Path(scratch) / Path(rule.program).name
        program.write_bytes(deb.read(rule.program))
        program.chmod(0o755)
        try:
            outcome = _run(root, lib_dir, program, rule.args, env, profile)
        except (OSError, subprocess.TimeoutExpired, rootfs.RootfsError) as exc:
            return None, lost.format(f"{rule.program} could not run: {exc}")
    if not outcome.where:
        return None, lost.format(f"running {rule.program} needs the target: {outcome.why_not}")
    made = _one(root, pending.base, rule.path)
    if outcome.status != 0 or made is None or made.stat().st_size == 0:
        detail = outcome.output.strip().splitlines()[-1:] or ["no output"]
        return None, lost.format(f"{rule.program} {' '.join(rule.args)} exited {outcome.status}: {detail[0]}")
    note = None
    if outcome.where == "this machine":
        note = (f"{pending.soname}: {made.relative_to(root).as_posix()} was made on this machine, not in a root "
                f"of {profile.name} ({outcome.why_not}): a part whose libraries only the runtime has may be "
                "missing from it.")
    made.chmod(0o644)
    rel = made.relative_to(root).as_posix()
    return FetchedDataFile(
        path=rel, package=entry.name, version=entry.version,
        member=f"(made by {rule.program} {' '.join(rule.args)})", library=pending.soname,
        size=made.stat().st_size, deb_url=entry.url, deb_sha256=entry.sha256, why=pending.why,
    ), note
