"""`fcslim lock`: pin an input for a target runtime, with hashes, as a
pip-tools lock or a PEP 751 pylock.toml (chosen by the output's name)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from fcslim.core.errors import InputError
from fcslim.resolve.inputs import materialise, named_for_user
from fcslim.resolve.lock import lock
from fcslim.resolve.lockfile import lock_format
from fcslim.target.profile import load_profile
from .common import (
    CONTEXT_SETTINGS,
    debug_option,
    handle_errors,
    input_options,
    json_option,
    runtime_options,
    verbosity_options,
)
from .resolve_cmd import index_options, install_options


def default_output(source, fmt: str | None) -> Path:
    """Beside the input: ``pylock.toml`` for --format pylock.toml, else
    ``<input>.lock`` (``requirements.lock`` for a pyproject.toml)."""
    if source.path is None:
        raise InputError("A lock of standard input needs --output.", "Pass -o requirements.lock or -o pylock.toml.")
    if fmt == "pylock.toml":
        return source.path.with_name("pylock.toml")
    if source.path.name == "pyproject.toml":
        return source.path.with_name("requirements.lock")
    return source.path.with_suffix(".lock")


@click.command("lock", context_settings=CONTEXT_SETTINGS)
@handle_errors
@input_options
@runtime_options(legacy_short=False)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Lock file to write: pylock.toml or pylock.NAME.toml is written in PEP 751 format, any other "
                   "name as a pip-tools lock (default: INPUT with the suffix .lock).")
@click.option("--format", "fmt", type=click.Choice(["requirements.txt", "pylock.toml"]), default=None,
              help="The lock format when --output is not given (then pylock.toml is written beside INPUT).")
@index_options
@json_option("Print the pins as JSON (schema fcslim.lock/1).")
@verbosity_options
@debug_option
def lock_command(source, runtime, output, fmt, index_url, extra_index_url, find_links, no_index,
                 allow_pure_sdist, pre, link_mode, as_json) -> None:
    """Pin INPUT (requirements.in, pyproject.toml with --extra/--group, or -)
    for the runtime into a lock with hashes; `fcslim resolve LOCK` installs
    it with every hash checked."""
    profile = load_profile(runtime)
    if source.exact:
        raise InputError(f"{source.display} is already a lock of exact files; locking it again would only copy it.",
                         "Pass the loose input (pyproject.toml, requirements.in) to `fcslim lock`, or install "
                         "this lock with `fcslim resolve`.")
    output = Path(output) if output else default_output(source, fmt)
    if fmt and lock_format(output) != fmt:
        raise InputError(f"--format {fmt} does not match the output name {output.name} (which means "
                         f"{lock_format(output)}).", "Name a PEP 751 lock pylock.toml or pylock.NAME.toml; "
                                                     "any other name is a pip-tools lock.")
    if source.path is not None and output.resolve() == source.path.resolve():
        raise InputError(f"The lock output {output} is the input file itself; locking would overwrite it.",
                         "Write the lock to another file, e.g. --output requirements.lock.")
    with tempfile.TemporaryDirectory(prefix="fcslim-lock-input-") as tmp:
        given = materialise(source, profile, Path(tmp))
        with named_for_user(given):
            result = lock(given.path, profile, output,
                          install_options(index_url, extra_index_url, find_links, no_index, allow_pure_sdist, pre),
                          source_name=source.display)
    if as_json:
        click.echo(json.dumps({
            "schema": "fcslim.lock/1",
            "output": str(result.output),
            "format": lock_format(result.output),
            "runtime": profile.name,
            "sha256": result.sha256,
            "pins": [{"name": p.name, "version": p.version, "hashes": list(p.hashes)} for p in result.pins],
        }, indent=2))
        return
    click.echo(f"{len(result.pins)} pins for {profile.name} written to {result.output} ({lock_format(result.output)})")
