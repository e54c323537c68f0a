"""`fcslim runtimes`: list the built-in runtime profiles."""

from __future__ import annotations

import json

import click

from fcslim.target.profile import builtin_profiles, load_profile
from .common import CONTEXT_SETTINGS, debug_option, handle_errors, json_option, verbosity_options
from fcslim.core.units import format_size


@click.command("runtimes", context_settings=CONTEXT_SETTINGS)
@handle_errors
@json_option("Print the profiles as JSON.")
@click.argument("name", required=False)
@verbosity_options
@debug_option
def runtimes(as_json: bool, name: str | None) -> None:
    """List built-in runtime profiles, or show one (NAME or a profile file)."""
    profiles = [load_profile(name)] if name else list(builtin_profiles().values())
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in profiles], indent=2))
        return
    rows = [("name", "python", "arch", "glibc", "os", "zip limit", "unzipped limit")]
    for p in profiles:
        rows.append((p.name, p.python_version, p.arch, p.glibc_version, p.os,
                     format_size(p.limits.zipped_bytes, decimals=0), format_size(p.limits.unzipped_bytes, decimals=0)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
