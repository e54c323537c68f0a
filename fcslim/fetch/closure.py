"""Fetch what the runtime lacks from the target's Debian release, closed over
its own needs: the fetch stage.

:func:`fetch_missing` asks :func:`fcslim.elf.graph.analyse` what the bundle
needs that neither the bundle nor the runtime's system image provides
(DT_NEEDED of every ELF file, and the libraries installed distributions open
by name), finds each soname's package in the profile's Debian release
(Contents to find it, Packages for the newest version across the release and
its security suite), downloads and verifies the ``.deb`` and places the
library at ``lib/<soname>`` (:mod:`fcslim.fetch.placement`) with the data it
reads at run time (:mod:`fcslim.fetch.rundata`).  It then analyses again,
since fetched files have needs of their own, until nothing new is missing.
What the runtime already has is never fetched, and glibc's own libraries are
refused: they can only come from the runtime.

``lib/`` is on the runtime's library search path (``/code/lib`` on Function
Compute, ``/var/task/lib`` on Lambda, ``/opt/lib`` for a layer); runtimes
without one use ``patch_runpath`` (:mod:`fcslim.fetch.runpath`).  Libraries
opened with ``ctypes.util.find_library`` and the variables that point
libraries at their data are served by the bundle's start-up hook
(:mod:`fcslim.fetch.hook`).  Everything is recorded in
``.fcslim/libraries.json`` (:mod:`fcslim.fetch.record`).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

from fcslim.core.errors import DebianError, InputError
from fcslim.debian.archive import DebianRelease
from fcslim.debian.errors import NoPackageError
from fcslim.debian.signatures import Trust
from fcslim.elf.facts import is_elf, read_elf, scan_tree
from fcslim.elf.findings import MissingLibrary
from fcslim.elf.graph import LibraryReport, analyse
from fcslim.elf.policy import system_libraries
from fcslim.fetch.codeneeds import CodeNeeds, code_needs
from fcslim.fetch.executables import BIN_DIR, place_programs, requested_programs
from fcslim.fetch.generated import PendingGeneration, run_generation
from fcslim.fetch.optional import describe as describe_optional
from fcslim.fetch.optional import split_optional, wheel_for
from fcslim.fetch.hook import SHIM_NAME, HookConfig, is_own_hook, write_hook
from fcslim.fetch.placement import OpenPackages, place_library
from fcslim.fetch.record import (EnvSetting, FetchedDataFile, FetchedLibrary, FetchResult, previous_records, read_record,
                                 write_record)
from fcslim.fetch.rundata import place_runtime_data
from fcslim.fetch.runpath import patch_programs, patch_runpaths
from fcslim.target.profile import Profile

MAX_ROUNDS = 30

# glibc's own libraries: they must match the runtime's ld.so exactly, so they
# can never be bundled.
GLIBC_SONAME = re.compile(
    r"^(ld-linux[\w.-]*|ld64|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libBrokenLocale|"
    r"libmvec|libthread_db|libnss_\w+|libSegFault|libmemusage|libpcprofile|libc_malloc_debug)\.so(\.|$)"
)


class GlibcLibraryError(DebianError):
    """A glibc library was asked for: it can only come from the runtime."""


def is_glibc_library(soname: str) -> bool:
    return bool(GLIBC_SONAME.match(soname))


def dlopen_served(report: LibraryReport, fetched_paths: set[str]) -> bool:
    """Whether a library opened by name at run time comes from the fetched ones."""
    return any(
        needer.startswith("dlopen:") and provider.startswith("bundle:") and provider.split(":", 1)[1] in fetched_paths
        for (needer, _), provider in report.resolved.items()
    )


def _previous_hook(root: Path) -> HookConfig:
    """The environment an earlier fetch set up (a second run keeps it)."""
    raw = read_record(root)
    config = HookConfig()
    for item in raw.get("hook_env", []):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            config.env.append(EnvSetting(item["name"], tuple(item.get("paths", ())),
                                         item.get("separator", ":"), item.get("format", "{}")))
    config.templates = [t for t in raw.get("hook_templates", []) if isinstance(t, dict)]
    return config


def fetch_missing(
    root: Path,
    profile: Profile,
    *,
    mirror: str | None = None,
    lib_dir: str = "lib",
    patch_runpath: bool = False,
    release: DebianRelease | None = None,
    trust: Trust | None = None,
    strict: bool = True,
    shim: bool = True,
    read_code: bool = True,
    system_packages: tuple[str, ...] = (),
    auto_system_packages: bool = True,
    strict_optional: bool = False,
) -> FetchResult:
    """Fetch every library the bundle at ``root`` misses on ``profile`` from
    the profile's Debian release (``mirror`` overrides its mirror), closed over
    the fetched libraries' own needs, into ``root/lib_dir``; write
    ``.fcslim/libraries.json`` and return what was done.  ``trust`` says which
    keyrings authenticate the release and whether an unsigned one is accepted
    (default: Debian's archive keyring, unsigned refused).

    With ``strict`` (the default) a soname no package provides raises
    :class:`fcslim.debian.archive.NoPackageError` after the record is written,
    naming the soname and what needs it; a fetched library that cannot load on
    the target raises :class:`DebianError`.  With ``read_code`` the installed
    Python code is read for libraries it opens by a literal name
    (:mod:`fcslim.fetch.codeneeds`); those it cannot find are reported only.
    ``system_packages`` (and, with ``auto_system_packages``, the packages
    installed wrappers run) put Debian programs in ``bin/``
    (:mod:`fcslim.fetch.executables`).  A library nothing provides that only
    Python extension modules need is a warning (:mod:`fcslim.fetch.optional`)
    unless ``strict_optional``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a directory.", "Pass the bundle directory to fetch libraries into.")
    if lib_dir.startswith("/") or ".." in lib_dir.split("/"):
        raise InputError(f"Library directory {lib_dir!r} must be relative to the bundle and stay inside it.",
                         "Use the default 'lib'.")
    if release is None:
        release = DebianRelease.for_profile(profile, mirror, trust=trust)
    system = system_libraries(profile)
    previous, previous_data, previous_programs = previous_records(root)
    fetched: dict[str, FetchedLibrary] = dict(previous)
    data_files: dict[str, FetchedDataFile] = dict(previous_data)
    hook = _previous_hook(root)
    hook.lib_dir = lib_dir
    notes: list[str] = []
    attempted: set[str] = set()
    pending: list[PendingGeneration] = []
    unresolved: dict[str, tuple[str, ...]] = {}
    skipped_system: set[str] = set()
    packages = OpenPackages(release, profile)

    files = scan_tree(root)
    from_code = code_needs(root, files, system, release) if read_code else CodeNeeds()
    programs = dict(previous_programs)
    try:
        placed_programs, program_notes = place_programs(
            root, lib_dir, profile, requested_programs(root, system_packages, auto_system_packages), release, packages)
        notes.extend(program_notes)
        for program in placed_programs:
            programs[program.path] = program
        files = scan_tree(root) if programs else files
        for _round in range(MAX_ROUNDS):
            report = analyse(root, profile, files)
            todo = [m for m in report.missing if m.soname not in attempted]
            todo += [MissingLibrary(s, n) for s, n in sorted(from_code.wanted.items())
                     if s not in attempted and s not in {m.soname for m in todo}]
            if not todo:
                break
            new_files = []
            for missing in todo:
                attempted.add(missing.soname)
                if is_glibc_library(missing.soname):
                    raise GlibcLibraryError(
                        f"{missing.soname} (needed by {', '.join(missing.needed_by)}) is part of glibc; it "
                        f"must come from the runtime and can never be bundled.",
                        f"The file was built for another system; use a wheel built for {profile.name} "
                        f"(manylinux_{profile.glibc[0]}_{profile.glibc[1]} or older).",
                    )
                if missing.soname in system:
                    skipped_system.add(missing.soname)
                    continue
                try:
                    location = release.locate(missing.soname)
                except NoPackageError:
                    if all(n.startswith("code:") for n in missing.needed_by):
                        for needer in missing.needed_by:
                            from_code.unresolved.setdefault(needer[5:], []).append(missing.soname)
                    else:
                        unresolved[missing.soname] = missing.needed_by
                    continue
                record = place_library(root, lib_dir, profile, location, packages, missing.needed_by)
                fetched[missing.soname] = record
                new_files.append(read_elf(root / record.path, root))
                placed = place_runtime_data(root, lib_dir, missing.soname, location.package, release, packages)
                if placed is not None:
                    for data_file in placed.files:
                        data_files[data_file.path] = data_file
                        if is_elf(root / data_file.path):
                            new_files.append(read_elf(root / data_file.path, root))
                    names = {s.name for s in placed.env}
                    hook.env = [s for s in hook.env if s.name not in names] + placed.env
                    sources = {t["source"] for t in placed.templates}
                    hook.templates = [t for t in hook.templates if t["source"] not in sources] + placed.templates
                    notes.extend(placed.notes)
                    pending.extend(placed.pending)
            files = sorted({f.path: f for f in files + new_files}.values(), key=lambda f: f.path)
        else:
            raise DebianError(f"Fetching libraries did not settle after {MAX_ROUNDS} rounds.",
                              "This is a bug in fcslim; please report it with the bundle's requirements.")
        for generation in pending:  # every library is in place now
            made, note = run_generation(root, lib_dir, generation, profile, release, packages)
            if made is not None:
                data_files[made.path] = made
            if note:
                notes.append(note)
    finally:
        packages.close()

    report = analyse(root, profile, files)
    needers: dict[str, set[str]] = {}
    for (needer, _soname), provider in report.resolved.items():
        if provider.startswith("bundle:"):
            needers.setdefault(provider.split(":", 1)[1], set()).add(needer)
    final = [
        FetchedLibrary(**{**asdict(rec), "needed_by": tuple(sorted(needers.get(rec.path, rec.needed_by)))})
        for rec in sorted(fetched.values(), key=lambda r: r.soname)
    ]
    fetched_paths = {rec.path for rec in final}

    hook.find_library = dlopen_served(report, fetched_paths) or any(
        n.startswith("code:") for rec in final for n in rec.needed_by)
    hook.path = [BIN_DIR] if programs else []
    hooks: list[str] = []
    if shim and hook.wanted:
        hooks, hook_notes = write_hook(root, hook)
        notes.extend(hook_notes)
    elif is_own_hook(root):
        hooks = [SHIM_NAME]  # from an earlier run, still wanted by its libraries
    runpath_patched = patch_runpaths(root, lib_dir, report, fetched_paths) if patch_runpath and final else []
    if programs:
        runpath_patched = sorted(set(runpath_patched) | set(patch_programs(root, lib_dir, list(programs),
                                                                           fetched_paths)))
    if patch_runpath and hook.find_library:
        notes.append("Libraries opened by name at run time (ctypes/cffi) are found through the library path "
                     "or the sitecustomize hook, not through RUNPATH.")

    missing = [m for m in report.missing if m.soname in unresolved]
    missing += [MissingLibrary(s, n) for s, n in sorted(unresolved.items())
                if s not in {m.soname for m in missing}]
    missing, optional = (missing, []) if strict_optional else split_optional(missing, lib_dir)
    result = FetchResult(
        root=root, profile=profile.name, release=release.release, mirror=release.mirror, lib_dir=lib_dir,
        fetched=final, data_files=sorted(data_files.values(), key=lambda d: d.path), missing=missing,
        unloadable=list(report.unloadable), skipped_system=sorted(skipped_system),
        env={s.name: s.describe() for s in sorted(hook.env, key=lambda s: s.name)}, hooks=hooks,
        runpath_patched=runpath_patched,
        authentication=(release.authentication() if attempted or programs
                        else read_record(root).get("debian", {}).get("authentication", {}) if final else {}),
        warnings=release.warnings, notes=notes, trust=release.trust.to_dict(),
        hook_env=sorted(hook.env, key=lambda s: s.name),
        hook_templates=hook.templates, code_needs=from_code.found, code_unresolved=from_code.unresolved,
        executables=sorted(programs.values(), key=lambda e: e.path), optional_missing=optional,
    )
    result.warnings.extend(describe_optional(optional, release.release))
    if from_code.unresolved:
        listed = "; ".join(f"{dist}: {', '.join(names)}" for dist, names in sorted(from_code.unresolved.items()))
        result.warnings.append(
            f"Code opens libraries by name that neither the bundle, {profile.name} nor Debian "
            f"{release.release} provides (features that need them will fail): {listed}.")
    write_record(result)
    if strict:
        if missing:
            listed = "; ".join(f"{m.soname} (needed by {', '.join(m.needed_by)}"
                               + (f"; the PyPI wheel '{wheel_for(m.soname)}' ships it: --add-wheel-for-missing"
                                  if wheel_for(m.soname) else "") + ")" for m in missing)
            raise NoPackageError(
                f"No package of Debian {release.release} ({profile.debian_arch}) provides {listed}.",
                "Check the names (from another distribution or a newer release?), provide those libraries "
                f"yourself in {lib_dir}/, or choose a runtime whose Debian release has them.",
            )
        broken = [p for p in report.unloadable if p.path in fetched_paths]
        if broken:
            raise DebianError(
                "Libraries fetched from Debian "
                f"{release.release} cannot load on {profile.name}: "
                + "; ".join(f"{p.path}: {p.detail}" for p in broken) + ".",
                "The profile's Debian release is newer than its runtime; fix the profile's debian.release.",
            )
    return result
