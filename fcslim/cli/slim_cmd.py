"""`fcslim slim DIR`: plan and apply the slimming rules, prove imports, compile."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click

from fcslim.core.errors import InputError
from fcslim.slim.apply import slim as run_slim
from fcslim.slim.plan import plan_slim
from fcslim.slim.rules import ruleset_for
from fcslim.core.repeats import collapse_repeats
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
from .stage_options import slim_options, user_rules_from_options


def render_plan_rules(rules, echo=click.echo, width: int = 88) -> None:
    for r in rules:
        echo(f"{r.name:<26} {len(r.files):>6} files  {format_size(r.bytes):>11}  ({r.kind})")
        for line in textwrap.wrap(r.why, width - 4):
            echo(f"    {line}")
        for note in r.notes:
            echo(f"    note: {note}")
        if r.distributions:
            echo(f"    distributions: {', '.join(r.distributions)}")


@click.command("slim", context_settings=CONTEXT_SETTINGS)
@handle_errors
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@runtime_options(default=None, default_help=BUNDLE_RUNTIME)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@json_option("Print the plan or result as JSON.")
@slim_options
@verbosity_options
@debug_option
def slim(directory, runtime, dry_run, as_json, keep, remove, drop, config, skip_rules, python, no_verify,
         compile_, drop_sources, invalidation_mode):
    """Slim the bundle in DIRECTORY for a runtime: each rule, why it exists and
    what it removes; imports are checked in the target before and after, and a
    rule that breaks one is rolled back to the files at fault."""
    if drop_sources and not compile_:
        raise InputError("--drop-sources needs --compile.", "Add --compile, or leave --drop-sources out.")
    profile = runtime_for(runtime, directory)
    ruleset = ruleset_for(user_rules_from_options(config, keep, remove, drop), skip_rules)
    root = Path(directory)
    if dry_run:
        plan = plan_slim(root, profile, ruleset)
        if as_json:
            click.echo(json.dumps(plan.to_dict(), indent=1))
            return
        click.echo(f"Plan for {root} ({profile.name}), nothing changed:")
        render_plan_rules(plan.rules)
        for pattern, count in sorted(plan.kept.items()):
            click.echo(f"kept by {pattern}: {count} files")
        click.echo(f"total: {format_size(plan.before_bytes)} -> {format_size(plan.before_bytes - plan.bytes)} "
                   f"(-{format_size(plan.bytes)})")
        return
    result = run_slim(root, profile, rules=ruleset, verify=not no_verify, python=python,
                      compile=compile_, drop_sources=drop_sources, invalidation_mode=invalidation_mode)
    if as_json:
        click.echo(json.dumps(result.record(), indent=1))
        return
    render_plan_rules(result.rules)
    for rb in result.rolled_back:
        click.echo(f"rolled back from {rb.rule}: {len(rb.files)} files kept because removing them broke "
                   f"{', '.join(rb.modules)}:")
        for f in rb.files[:20]:
            click.echo(f"    {f}")
    v = result.verified
    if v is None or not v.checked:
        click.echo(f"imports: {v.reason if v else 'not verified (--no-verify)'}")
    else:
        failing = v.failed
        click.echo(f"imports: {len(v.passed)} modules import in {v.where}"
                   + (f"; failing before and after slimming: {', '.join(failing)}" if failing else ""))
        if v.reason:
            click.echo(f"    ({v.reason})")
    if result.compiled is not None:
        c = result.compiled
        if c.compiled:
            click.echo(f"compiled: {c.files} pycs ({c.cache_tag}, {c.invalidation_mode}) with Python {c.python} "
                       f"in {c.where}" + (f"; {c.sources_removed} sources dropped" if c.drop_sources else ""))
        else:
            click.echo(f"compiled: no ({c.reason})")
    for note in collapse_repeats(n for n in result.notes if not n.startswith("not verified")):
        click.echo(f"note: {note}")
    click.echo(f"total: {format_size(result.before_bytes)} -> {format_size(result.after_bytes)} "
               f"({result.after_bytes / max(result.before_bytes, 1):.2f}x); record in {root / '.fcslim' / 'slim.json'}")
