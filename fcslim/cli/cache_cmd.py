"""`fcslim cache info` and `fcslim cache clean`: see and empty fcslim's caches
(the ``--cache-url`` options every building verb shares are in
:mod:`fcslim.cli.stage_options`)."""

from __future__ import annotations

import json
from typing import Any

import click

from fcslim.cache.location import cache_root
from fcslim.cache.maintenance import EXPLICIT_ONLY, NAMESPACES, clean_namespace, usage
from fcslim.cache.remote_maintenance import clean_remote, remote_usage
from fcslim.cache.store import URL_ENV, current_remote
from fcslim.core.errors import InputError
from .stage_options import remote_cache_options
from .common import CONTEXT_SETTINGS, debug_option, handle_errors, json_option, verbosity_options
from fcslim.core.units import format_size

_DAY = 86400.0


@click.group("cache", context_settings=CONTEXT_SETTINGS)
def cache_group() -> None:
    """Show or empty fcslim's caches ($FCSLIM_CACHE_DIR, else the platform cache dir, and the remote
    cache of --cache-url / $FCSLIM_CACHE_URL)."""


@cache_group.command("info", context_settings=CONTEXT_SETTINGS)
@handle_errors
@json_option("Print the namespaces as JSON.")
@verbosity_options
@debug_option
@remote_cache_options
def info(as_json: bool) -> None:
    """Where the cache is and how much each namespace holds (and the remote's, when one is set)."""
    root = cache_root()
    rows = usage(root)
    remote = current_remote()
    remote_rows = remote_usage(remote) if remote is not None else None
    if as_json:
        document: dict[str, Any] = {
            "root": str(root),
            "total_bytes": sum(r.bytes for r in rows),
            "namespaces": [
                {"name": r.name, "path": str(r.path), "bytes": r.bytes, "entries": r.entries,
                 "description": r.description}
                for r in rows
            ],
        }
        if remote_rows is not None:
            document["remote"] = {"url": remote_rows.url, "entries": remote_rows.refs,
                                  "objects": remote_rows.objects, "bytes": remote_rows.bytes}
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"cache root: {root}")
    table = [("namespace", "size", "entries", "holds")]
    for r in rows:
        table.append((r.name, format_size(r.bytes), "-" if r.entries is None else str(r.entries), r.description))
    table.append(("total", format_size(sum(r.bytes for r in rows)), "", ""))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]), row[3]]
        click.echo("  ".join(cells).rstrip())
    if remote_rows is not None:
        entries = ", ".join(f"{name} {count}" for name, count in sorted(remote_rows.refs.items())) or "no entries"
        click.echo(f"remote: {remote_rows.url}  {format_size(remote_rows.bytes)} in {remote_rows.objects} objects "
                   f"({entries})")


@cache_group.command("clean", context_settings=CONTEXT_SETTINGS)
@handle_errors
@click.option("--older-than", "older_than_days", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="Only remove entries not used for DAYS days (roots: not built within DAYS days).")
@click.option("--remote", "clean_the_remote", is_flag=True,
              help="Clean the remote cache (--cache-url / $FCSLIM_CACHE_URL) too; only keys under its "
                   "fcslim-cache/ prefix are touched.")
@click.argument("namespace", required=False)
@json_option("Print what was freed as JSON.")
@verbosity_options
@debug_option
@remote_cache_options
def clean(older_than_days: float | None, clean_the_remote: bool, namespace: str | None, as_json: bool) -> None:
    """Remove cached entries: every namespace but `roots`, or only NAMESPACE.

    The clean Debian roots used to verify bundles are removed only when asked
    for by name (`fcslim cache clean roots`); rebuilding them takes minutes.
    Entries another fcslim process holds are skipped.  The remote cache is
    cleaned only with --remote, since other machines share it.
    """
    root = cache_root()
    present = {r.name for r in usage(root)}
    remote = current_remote()
    if clean_the_remote and remote is None:
        raise InputError("--remote was given, but no remote cache is set.", f"Pass --cache-url URL or set ${URL_ENV}.")
    if namespace is not None and namespace not in present and not clean_the_remote:
        raise InputError(
            f"There is no cache namespace {namespace!r} under {root}.",
            f"Known namespaces: {', '.join(sorted(present | set(NAMESPACES)))}; `fcslim cache info` lists them.",
        )
    names = [namespace] if namespace else [n for n in NAMESPACES if n not in EXPLICIT_ONLY]
    older_than = None if older_than_days is None else older_than_days * _DAY
    total = 0
    freed_by: dict[str, int] = {}
    for name in names:
        freed = clean_namespace(name, older_than, root)
        total += freed
        freed_by[name] = freed
        if not as_json:
            click.echo(f"{name}: freed {format_size(freed)}")
    if as_json:
        click.echo(json.dumps({"root": str(root), "freed_bytes": freed_by, "total_freed_bytes": total}, indent=2))
    elif len(names) > 1:
        click.echo(f"total: freed {format_size(total)}")
    if clean_the_remote and remote is not None:
        removed, freed = clean_remote(remote, older_than, [namespace] if namespace else None)
        click.echo(f"remote {remote.location.url}: removed {removed} entries, freed {format_size(freed)}")
