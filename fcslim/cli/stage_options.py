"""Options that several building verbs share (`resolve`, `slim`, `report`,
`pack`, `fetch`): slimming, size gates and the remote cache.

They live apart from the verbs that first had them so that `fcslim resolve`
imports only option definitions, not the slim, report or cache verbs and
their stages: that is most of a warm rebuild's start-up (measured with
``python -X importtime``); the remote cache's options import its
configuration, not the remote store."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import click

from fcslim.cache.remote_config import REQUIRED_ENV, URL_ENV, configure_remote
from fcslim.core.errors import InputError
from fcslim.slim.rules import cli_user_rules, load_user_rules


def user_rules_from_options(config: str | None, keep, remove, drop=()):
    user = load_user_rules(Path(config) if config else None)
    return user.merged(cli_user_rules(keep, remove, drop))


def slim_options(fn):
    """Options shared by `fcslim slim` and (through its owner) `fcslim resolve`."""
    for opt in reversed([
        click.option("--keep", "keep", multiple=True, metavar="GLOB",
                     help="Never remove or strip files matching GLOB (repeatable; wins over every rule)."),
        click.option("--remove", "remove", multiple=True, metavar="GLOB",
                     help="Also remove files matching GLOB (repeatable)."),
        click.option("--drop", "drop", multiple=True, metavar="DISTRIBUTION",
                     help="Remove this distribution whole even if another requires it (e.g. nvidia-nccl-cu12, GPU-only "
                          "on a CPU runtime; `fcslim report` lists candidates); the import check proves the rest "
                          "still loads (repeatable)."),
        click.option("--config", type=click.Path(dir_okay=False), default=None,
                     help="pyproject.toml whose [tool.fcslim] keep/remove globs apply (default: ./pyproject.toml)."),
        click.option("--skip-rule", "skip_rules", multiple=True, metavar="NAME",
                     help="Do not apply the named default rule (repeatable)."),
        click.option("--python", "python", default=None,
                     help="Interpreter of the target's exact Python version for import checks and --compile."),
        click.option("--no-verify", is_flag=True, help="Do not check imports (not recommended)."),
        click.option("--compile", "compile_", is_flag=True,
                     help="Write hash-based pycs for the target's Python (cold starts on a read-only /code)."),
        click.option("--drop-sources", is_flag=True,
                     help="With --compile: keep only the pycs (module.pyc beside the package), delete the .py files."),
        click.option("--invalidation-mode", type=click.Choice(["checked-hash", "unchecked-hash"]),
                     default="checked-hash", show_default=True,
                     help="How the target checks pycs against sources."),
    ]):
        fn = opt(fn)
    return fn


def gate_options(fn):
    for opt in reversed([
        click.option("--max-zip", metavar="SIZE", default=None,
                     help="Zipped size limit instead of the runtime's (100MB, 50MiB, 250M or bytes; units are "
                          "powers of 1024, as the providers count)."),
        click.option("--max-unzipped", metavar="SIZE", default=None, help="Unzipped size limit instead of the runtime's."),
        click.option("--via", type=click.Choice(["api", "oss"]), default="api", show_default=True,
                     help="How the code zip is uploaded: through the API (FC 100 MB) or object storage (FC 500 MB)."),
    ]):
        fn = opt(fn)
    return fn


def remote_cache_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--cache-url URL`` ($FCSLIM_CACHE_URL) and ``--cache-url-required``
    ($FCSLIM_CACHE_URL_REQUIRED=1): configure the remote cache, then run the
    verb without those two arguments.  Put it under ``@handle_errors``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, cache_url: str | None, cache_url_required: bool, **kwargs: Any) -> Any:
        if cache_url_required and not cache_url:
            raise InputError("--cache-url-required was given without a remote cache.",
                             f"Pass --cache-url URL or set ${URL_ENV}.")
        configure_remote(cache_url or None, required=cache_url_required)
        return fn(*args, **kwargs)

    wrapper = click.option(
        "--cache-url-required", is_flag=True, envvar=REQUIRED_ENV,
        help="Fail (exit 12) instead of building locally when the remote cache cannot be used.")(wrapper)
    return click.option(
        "--cache-url", metavar="URL", envvar=URL_ENV, default=None,
        help="A shared cache: s3://bucket/prefix/, oss://bucket/prefix/ or a directory. Read through and "
             "written back after the local cache; a failing remote is one warning, never a failed build.")(wrapper)
