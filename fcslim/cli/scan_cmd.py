"""`fcslim scan DIR`: can every ELF file in a tree load on the target?

Exit 0 when everything loads; 6 (LoadError) when a library is missing or a file
cannot load (too-new symbol version, wrong machine or class, malformed ELF);
11 (LocationError) when the only problem is files or directories it could not
read (listed with kind "unreadable": nothing is skipped silently);
3 for a bad runtime or a DIR that is not a directory.

``--json`` prints ``LibraryReport.to_dict()``: ``{"schema": 1, "root",
"runtime", "arch", "glibc", "system_image", "ok", "summary": {"elf_files",
"elf_bytes", "needs", "bundle", "system", "missing", "unloadable", "unreadable"}, "missing":
[{"soname", "needed_by"}], "unloadable": [{"path", "kind", "detail"}],
"dlopen": {distribution: [soname]}, "resolved": [{"needer", "soname",
"provider"}], "load_order": [path], "files": [ElfFile.to_dict()]}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from fcslim.elf.facts import scan_tree
from fcslim.core.errors import FcslimError, InputError, LoadError, LocationError
from fcslim.elf.graph import LibraryReport, analyse
from fcslim.target.profile import runtime_for
from .common import (
    BUNDLE_RUNTIME,
    CONTEXT_SETTINGS,
    debug_option,
    handle_errors,
    json_option,
    runtime_options,
    verbosity_options,
)
from fcslim.core.units import format_size


def render_text(report: LibraryReport, seconds: float) -> str:
    lines: list[str] = []
    summary = report.summary()
    if report.missing:
        lines.append(f"Missing libraries ({len(report.missing)}):")
        for item in report.missing:
            shown = ", ".join(item.needed_by[:3])
            more = f" and {len(item.needed_by) - 3} more" if len(item.needed_by) > 3 else ""
            lines.append(f"  {item.soname}  needed by {shown}{more}")
    unloadable = [p for p in report.unloadable if p.kind != "unreadable"]
    unreadable = [p for p in report.unloadable if p.kind == "unreadable"]
    if unloadable:
        lines.append(f"Files that cannot load ({len(unloadable)}):")
        for problem in unloadable:
            lines.append(f"  {problem.path}  [{problem.kind}] {problem.detail}")
    if unreadable:
        lines.append(f"Files that could not be read, so whether they load is unknown ({len(unreadable)}):")
        for problem in unreadable:
            lines.append(f"  {problem.path}  {problem.detail}")
    if report.dlopen:
        loaded = "; ".join(f"{d}: {', '.join(s)}" for d, s in report.dlopen.items())
        lines.append(f"Loaded by name at run time: {loaded}")
    lines.append(
        f"{summary['elf_files']} ELF files ({format_size(summary['elf_bytes'])}) for {report.profile.name} "
        f"({report.profile.arch}, glibc {report.profile.glibc_version}, {report.image.name}): "
        f"{summary['needs']} needs, {summary['bundle']} from the bundle, {summary['system']} from the system, "
        f"{summary['missing']} missing, {summary['unloadable'] - summary['unreadable']} unloadable files, "
        f"{summary['unreadable']} unreadable; scanned in {seconds:.2f}s."
    )
    if report.ok:
        lines.append("OK: everything can load.")
    elif len(unreadable) == len(report.unloadable) and not report.missing:
        lines.append("NOT OK: some files could not be read, so the scan cannot say that everything loads.")
    else:
        lines.append("NOT OK: something cannot load on the target.")
    return "\n".join(lines)


def load_error(report: LibraryReport) -> FcslimError:
    """Exit 6 when something cannot load; exit 11 when the only problem is
    files the scan could not read (the environment's doing)."""
    unreadable = [p for p in report.unloadable if p.kind == "unreadable"]
    if unreadable and len(unreadable) == len(report.unloadable) and not report.missing:
        first = unreadable[0]
        return LocationError(
            f"{len(unreadable)} file(s) under {report.root} could not be read (first: {first.path}: "
            f"{first.detail}), so the scan cannot say whether they load on {report.profile.name}.",
            "Run the scan as a user who can read them, or fix their permissions (chmod a+r).")
    parts = []
    if report.missing:
        parts.append(f"{len(report.missing)} missing librar{'y' if len(report.missing) == 1 else 'ies'} "
                     f"(first: {report.missing[0].soname}, needed by {report.missing[0].needed_by[0]})")
    if report.unloadable:
        first = report.unloadable[0]
        parts.append(f"{len(report.unloadable)} unloadable file(s) (first: {first.path}: {first.detail})")
    return LoadError(
        f"{report.root} cannot load on {report.profile.name}: {'; '.join(parts)}.",
        "Fetch missing libraries with `fcslim fetch`, install wheels built for the target's glibc and "
        "machine, or replace the files named above.",
    )


@click.command("scan", context_settings=CONTEXT_SETTINGS)
@handle_errors
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@runtime_options(default=None, default_help=BUNDLE_RUNTIME)
@json_option("Print the versioned JSON report on stdout.")
@click.option("--no-files", is_flag=True, help="With --json, leave out the per-file facts.")
@verbosity_options
@debug_option
def scan(directory: Path, runtime: str, as_json: bool, no_files: bool) -> None:
    """Check that every ELF file in DIRECTORY can load on the target runtime.

    Finds ELF files by magic bytes, resolves their DT_NEEDED entries (RPATH,
    RUNPATH with $ORIGIN, the bundle's lib/, the runtime's system libraries) and
    the libraries installed distributions open by name, and checks machine and
    GLIBC_/GLIBCXX_/CXXABI_/GCC_ symbol versions.  Exits 6 when anything cannot
    load.
    """
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory.", "Pass the bundle or site-packages directory to scan.")
    profile = runtime_for(runtime, directory)
    started = time.perf_counter()
    files = scan_tree(directory)
    report = analyse(directory, profile, files)
    seconds = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps(report.to_dict(include_files=not no_files), indent=2))
        if not report.ok:
            sys.exit(load_error(report).exit_code)
        return
    click.echo(render_text(report, seconds))
    if not report.ok:
        raise load_error(report)
