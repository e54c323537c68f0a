"""`fcslim fetch DIR`: fetch the system libraries a bundle misses from the
target's Debian release.

Exit 0 when nothing is missing afterwards; 7 (DebianError) when no package
provides a soname, a checksum or signature fails (or the Release is unsigned
and --allow-unsigned was not given), a .deb member would escape
its tree, or the mirror has no packages for the target's architecture; 5 when
the mirror is unreachable and nothing is cached; 3 for a bad runtime, a DIR that
is not a directory, or --patch-runpath without patchelf.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from fcslim.fetch.closure import fetch_missing
from fcslim.target.profile import runtime_for
from .stage_options import remote_cache_options
from .common import (
    BUNDLE_RUNTIME,
    CONTEXT_SETTINGS,
    debian_trust,
    debian_trust_options,
    debug_option,
    handle_errors,
    json_option,
    runtime_options,
    verbosity_options,
)
from fcslim.core.units import format_size


@click.command("fetch", context_settings=CONTEXT_SETTINGS)
@handle_errors
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@runtime_options(default=None, default_help=BUNDLE_RUNTIME)
@click.option("--debian-mirror", "mirror", default=None, metavar="URL",
              help="Debian mirror to use instead of the profile's (e.g. http://archive.debian.org/debian).")
@debian_trust_options
@click.option("--patch-runpath", is_flag=True,
              help="Also add $ORIGIN-relative RUNPATH entries, for runtimes whose library path lacks lib/.")
@click.option("--system-package", "system_packages", multiple=True, metavar="DEBIAN_PACKAGE",
              help="Also bring this Debian package's programs into bin/ (repeatable).")
@click.option("--strict-optional/--no-strict-optional", default=True, show_default=True,
              help="Fail also for a missing library only extension modules need (no import check follows this "
                   "verb; `fcslim resolve` checks imports and warns instead).")
@json_option("Print the record (.fcslim/libraries.json) as JSON.")
@verbosity_options
@debug_option
@remote_cache_options
def fetch(directory, runtime, mirror, debian_keyrings, allow_unsigned, allow_expired, patch_runpath, system_packages,
          strict_optional, as_json):
    """Fetch the libraries the bundle in DIRECTORY misses on a runtime from its
    Debian release: checked against the signed Release and the package
    checksums, only shared libraries, placed in lib/ under their soname,
    closed over their own needs, skipping what the runtime already has."""
    profile = runtime_for(runtime, directory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are in the result and printed below
        result = fetch_missing(Path(directory), profile, mirror=mirror, patch_runpath=patch_runpath,
                               trust=debian_trust(debian_keyrings, allow_unsigned, allow_expired),
                               system_packages=tuple(system_packages), strict_optional=strict_optional)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
        return
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    auth = ", ".join(f"{suite}: {how.split(':')[0]}" for suite, how in result.authentication.items())
    click.echo(f"Debian {result.release} from {result.mirror}" + (f" ({auth})" if auth else ""))
    if not result.fetched:
        click.echo("nothing to fetch: every library the bundle needs is in it or in the runtime")
    for lib in result.fetched:
        click.echo(f"{lib.path:<34} {format_size(lib.size):>9}  {lib.package} {lib.version}  [{lib.license}]")
        click.echo(f"    needed by {', '.join(lib.needed_by[:4])}" + (" ..." if len(lib.needed_by) > 4 else ""))
    by_library: dict[str, list] = {}
    for data in result.data_files:
        by_library.setdefault(data.library, []).append(data)
    for library, items in sorted(by_library.items()):
        packages = ", ".join(sorted({f"{d.package} {d.version}" for d in items if d.package}))
        click.echo(f"run-time data of {library}: {len(items)} files, {format_size(sum(d.size for d in items))}"
                   + (f" from {packages}" if packages else ""))
    if result.env:
        click.echo("environment: " + ", ".join(f"{k}={v}" for k, v in result.env.items())
                   + (f" (paths relative to the bundle; set by {result.hooks[0]} when unset)" if result.hooks else ""))
    for program in result.executables:
        click.echo(f"{program.path:<34} {format_size(program.size):>9}  {program.package} {program.version}  "
                   f"({program.requested_by})")
    for name, names in sorted(result.code_needs.items()):
        click.echo(f"opened by name in {name}'s code: {', '.join(names)}")
    if result.runpath_patched:
        click.echo(f"RUNPATH patched in {len(result.runpath_patched)} files")
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"fetched {len(result.fetched)} libraries, {format_size(result.fetched_bytes)}; "
               f"record in {result.record_path}")
