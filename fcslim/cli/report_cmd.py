"""`fcslim report DIR`: what takes the space, against the runtime's limits.

Prints a terminal table (default), the versioned JSON (``--json``, schema
``fcslim.report/1``, documented in docs/report-schema.json) or Markdown
(``--markdown``).  When ``$GITHUB_STEP_SUMMARY`` is set the Markdown rendering
is also appended to it.  Exit 9 (SizeLimitError) when the bundle is over a
gating limit (the profile's, or --max-zip/--max-unzipped), after the report is
printed; ``--no-gate`` only reports.  Exit 3 for a bad DIR, size or baseline.
"""

from __future__ import annotations

from pathlib import Path

import click

from fcslim.report.lighter import advice_lines, lighter_advice
from fcslim.report.limits import check_limits
from fcslim.core import progress
from fcslim.report.html import write_html
from fcslim.report.render import append_step_summary, render_json, render_markdown, render_text
from fcslim.report.measure import build_report
from fcslim.target.profile import runtime_for
from .stage_options import gate_options
from .common import (
    BUNDLE_RUNTIME,
    CONTEXT_SETTINGS,
    debug_option,
    handle_errors,
    json_option,
    runtime_options,
    verbosity_options,
)


@click.command("report", context_settings=CONTEXT_SETTINGS)
@handle_errors
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@runtime_options(default=None, default_help=BUNDLE_RUNTIME)
@json_option("Print the versioned JSON report (schema fcslim.report/1).")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown (for CI step summaries).")
@click.option("--html", "html_file", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="Also write a self-contained HTML page (inline CSS and SVG, nothing from the network).")
@click.option("--baseline", metavar="OLD.json|DIR", default=None,
              help="An earlier `fcslim report --json` file or bundle directory: show what grew and by how much.")
@gate_options
@click.option("--layout", type=click.Choice(["code", "layer", "split"]), default="code", show_default=True,
              help="The zip whose exact size is measured (split: its dependency zip, which has the code layout).")
@click.option("--top", type=click.IntRange(1, 1000), default=20, show_default=True, help="How many largest files to list.")
@click.option("--all-files", is_flag=True, help="With --json, include every file (for later --baseline comparisons).")
@click.option("--no-gate", is_flag=True, help="Report only: exit 0 even when over a limit.")
@click.option("--no-step-summary", is_flag=True, help="Do not append to $GITHUB_STEP_SUMMARY.")
@verbosity_options
@debug_option
def report(directory, runtime, as_json, as_markdown, html_file, baseline, max_zip, max_unzipped, via, layout, top,
           all_files, no_gate, no_step_summary):
    """Sizes of the bundle in DIRECTORY: per distribution and category, the
    largest files, before/after slimming, the exact zipped size and the headroom
    against the runtime's limits."""
    if as_json and as_markdown:
        raise click.UsageError("Pass --json or --markdown, not both.")
    profile = runtime_for(runtime, directory)
    result = build_report(directory, profile, layout="code" if layout == "split" else layout, max_zip=max_zip,
                          max_unzipped=max_unzipped, via=via, baseline=baseline, top=top)
    if html_file is not None:
        written = write_html(result, html_file)
        progress.reporter().info(f"HTML report: {written}")
    markdown = render_markdown(result)
    if as_json:
        click.echo(render_json(result, include_files=all_files), nl=False)
    elif as_markdown:
        click.echo(markdown, nl=False)
    else:
        click.echo(render_text(result), nl=False)
        for line in advice_lines(lighter_advice(result, profile)):
            click.echo(f"lighter: {line}")
    if not no_step_summary:
        append_step_summary(markdown)
    if not no_gate:
        check_limits(result, profile, max_zip=max_zip, max_unzipped=max_unzipped, via=via)
