"""`fcslim cache info` and `fcslim cache clean`: see and empty fcslim's caches."""

from __future__ import annotations

import json

import click

from fcslim.cache.maintenance import EXPLICIT_ONLY, NAMESPACES, clean_namespace, usage
from fcslim.cache.location import cache_root
from fcslim.core.errors import InputError
from .common import handle_errors

_DAY = 86400.0


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@click.group("cache")
def cache_group() -> None:
    """Show or empty fcslim's caches ($FCSLIM_CACHE_DIR, else the platform cache dir)."""


@cache_group.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print the namespaces as JSON.")
@handle_errors
def info(as_json: bool) -> None:
    """Where the cache is and how much each namespace holds."""
    root = cache_root()
    rows = usage(root)
    if as_json:
        click.echo(json.dumps({
            "root": str(root),
            "total_bytes": sum(r.bytes for r in rows),
            "namespaces": [
                {"name": r.name, "path": str(r.path), "bytes": r.bytes, "entries": r.entries,
                 "description": r.description}
                for r in rows
            ],
        }, indent=2))
        return
    click.echo(f"cache root: {root}")
    table = [("namespace", "size", "entries", "holds")]
    for r in rows:
        table.append((r.name, _human(r.bytes), "-" if r.entries is None else str(r.entries), r.description))
    table.append(("total", _human(sum(r.bytes for r in rows)), "", ""))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]), row[3]]
        click.echo("  ".join(cells).rstrip())


@cache_group.command("clean")
@click.option("--older-than", "older_than_days", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="Only remove entries not used for DAYS days (roots: not built within DAYS days).")
@click.argument("namespace", required=False)
@handle_errors
def clean(older_than_days: float | None, namespace: str | None) -> None:
    """Remove cached entries: every namespace but `roots`, or only NAMESPACE.

    The clean Debian roots used to verify bundles are removed only when asked
    for by name (`fcslim cache clean roots`); rebuilding them takes minutes.
    Entries another fcslim process holds are skipped.
    """
    root = cache_root()
    present = {r.name for r in usage(root)}
    if namespace is not None and namespace not in present:
        raise InputError(
            f"There is no cache namespace {namespace!r} under {root}.",
            f"Known namespaces: {', '.join(sorted(present | set(NAMESPACES)))}; `fcslim cache info` lists them.",
        )
    names = [namespace] if namespace else [n for n in NAMESPACES if n not in EXPLICIT_ONLY]
    older_than = None if older_than_days is None else older_than_days * _DAY
    total = 0
    for name in names:
        freed = clean_namespace(name, older_than, root)
        total += freed
        click.echo(f"{name}: freed {_human(freed)}")
    if len(names) > 1:
        click.echo(f"total: freed {_human(total)}")
