"""`fcslim lock`: pin requirements for a target runtime, with hashes."""

from __future__ import annotations

from pathlib import Path

import click

from fcslim.resolve.lock import lock
from fcslim.target.profile import load_profile
from .common import handle_errors, runtime_option
from .resolve_cmd import index_options, install_options


@click.command("lock")
@click.argument("requirements_in", type=click.Path(path_type=Path, dir_okay=False))
@runtime_option
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Lock file to write (default: REQUIREMENTS_IN with the suffix .lock).")
@index_options
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def lock_command(requirements_in, runtime, output, index_url, extra_index_url, find_links, no_index,
                 allow_pure_sdist, pre, link_mode, debug) -> None:
    """Pin REQUIREMENTS_IN for the runtime into a pip-tools style lock with
    --hash lines; `fcslim resolve LOCK` installs it with hashes checked."""
    profile = load_profile(runtime)
    output = output or Path(requirements_in).with_suffix(".lock")
    result = lock(requirements_in, profile, output,
                  install_options(index_url, extra_index_url, find_links, no_index, allow_pure_sdist, pre))
    click.echo(f"{len(result.pins)} pins for {profile.name} written to {result.output}")
