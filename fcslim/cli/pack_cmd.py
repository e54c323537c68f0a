"""`fcslim pack DIR --layout auto|code|layer|split --output bundle.zip`.

Writes deterministic zips (same bundle, same bytes; ``$SOURCE_DATE_EPOCH``
sets the entries' date), ``<output>.manifest.json`` for other packagers, and
with ``--snippet`` prints a ready-to-paste s.yaml (Serverless Devs fc3) or
template.yml (Funcraft) fragment.  ``--from s.yaml`` takes the runtime and the
function's code directory (added to the code zip) from a Serverless Devs
project.  The runtime is ``--runtime``, else the one in --from, else the one
the bundle was built for (its ``.fcslim/install.json``).

``auto`` plans the fewest zips that fit (:mod:`fcslim.pack.plan`).  Exit 9
(SizeLimitError) when a written zip is over its own limit (the code zip: the
upload route's; a layer: the layer limit; the split layout's dependency zip:
the function's disk) or no plan fits (``--no-gate`` writes anyway without the
check); 10 (PackError) when a zip or the manifest cannot be written; 3 for bad
input.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from fcslim.core import progress
from fcslim.core.errors import InputError
from fcslim.pack.handoff import read_serverless_devs
from fcslim.pack.snippets import SNIPPET_FORMATS, next_steps, snippet as make_snippet
from fcslim.pack.stage import PackRequest, gate_bundle, pack_bundle
from fcslim.core.units import format_size
from fcslim.report.lighter import advice_lines, lighter_advice
from fcslim.report.measure import build_report
from fcslim.target.profile import runtime_for
from .common import CONTEXT_SETTINGS, debug_option, handle_errors, json_option, runtime_options, verbosity_options
from .stage_options import gate_options

DEFAULT_RUNTIME = "fc-python3.10"
LAYOUT_CHOICES = ("auto", "code", "layer", "split")


@click.command("pack", context_settings=CONTEXT_SETTINGS)
@handle_errors
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--layout", type=click.Choice(LAYOUT_CHOICES), default="code", show_default=True,
              help="auto: the fewest zips that fit the runtime (code zip alone, else layers, else split); "
                   "code: packages at the root, libraries in lib/; layer: python/ and lib/ for /opt; "
                   "split: a small code zip with a loader plus a dependency zip for OSS/S3.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (split: the code zip; the dependencies go to <stem>.deps.zip; auto: layers "
                   "go to <stem>.layer1.zip ...).")
@runtime_options(default=None, default_help="the one in --from, else the one the bundle was built for, else "
                                             f"{DEFAULT_RUNTIME}")
@click.option("--from", "from_project", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A Serverless Devs s.yaml: take the runtime and the function's code directory from it.")
@click.option("--resource", default=None, help="With --from: which function resource, when there are several.")
@click.option("--code", "code_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The function's own code directory, added at the root of the code zip (code and split layouts).")
@click.option("--no-code", is_flag=True, help="With --from: do not add the function's code directory.")
@click.option("--handler", metavar="MODULE.FUNCTION", default=None,
              help="Your function's handler (index.handler; default: the one in --from): the split loader calls it.")
@click.option("--disk", metavar="SIZE", default=None,
              help="The function's /tmp size the split layout must fit (default: the runtime's).")
@click.option("--deps-output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="split: where to write the dependency zip.")
@click.option("--deps-url", default=None,
              help="split: the dependency zip's URL, written into fcslim_deps.json (default: read $FCSLIM_DEPS_URL "
                   "at cold start).")
@click.option("--upload", "upload_url", metavar="URL", default=None,
              help="split: upload the dependency zip to s3://bucket/prefix/ or oss://bucket/prefix/ as <sha256>.zip "
                   "and point the loader at it (a GET signed with the function's own credentials).")
@click.option("--url-env", default="FCSLIM_DEPS_URL", show_default=True,
              help="split: the environment variable the loader reads the URL from.")
@click.option("--no-manifest", is_flag=True, help="Do not write <output>.manifest.json.")
@click.option("--snippet", type=click.Choice(SNIPPET_FORMATS), default=None,
              help="Print a ready-to-paste fragment for Serverless Devs s.yaml (fc3) or Funcraft template.yml.")
@gate_options
@click.option("--no-gate", is_flag=True, help="Do not check the zips against size limits.")
@json_option("Print the archives written as JSON (schema fcslim.pack/1).")
@verbosity_options
@debug_option
def pack(directory, layout, output, runtime, from_project, resource, code_dir, no_code, handler, disk, deps_output,
         deps_url, upload_url, url_env, no_manifest, snippet, max_zip, max_unzipped, via, no_gate, as_json):
    """Pack the bundle in DIRECTORY into deterministic zips for the runtime."""
    rep = progress.reporter()
    function = read_serverless_devs(from_project, resource) if from_project else None
    profile = runtime_for(runtime or (function.profile_name if function else None), directory, DEFAULT_RUNTIME)
    if snippet and profile.provider != "fc":
        raise InputError(f"--snippet {snippet} is for Function Compute, but {profile.name} is not an FC runtime "
                         f"(provider {profile.provider}).", "Pack for an fc-* runtime, or leave out --snippet.")
    if code_dir is None and function is not None and not no_code and layout != "layer":
        code_dir = function.code_dir
    handler = handler or (function.handler if function else None)
    if (deps_output or url_env != "FCSLIM_DEPS_URL" or no_manifest) and layout == "auto":
        raise InputError("--deps-output, --url-env and --no-manifest go with an explicit --layout.",
                         "Pass --layout split (or code/layer), or leave those options out.")
    if upload_url and layout not in ("split", "auto"):
        raise InputError(f"--upload is for the split layout, not --layout {layout}.",
                         "Pass --layout split (or auto), or leave --upload out.")
    request = PackRequest(layout, output, via, max_zip, max_unzipped, disk, handler, code_dir, deps_url, upload_url)
    if layout == "auto":
        report = build_report(directory, profile)
        outcome = pack_bundle(directory, report, profile, request, gate=not no_gate,
                              advice=advice_lines(lighter_advice(report, profile)))
    else:
        report = None
        outcome = pack_bundle(directory, None, profile, request, gate=not no_gate,
                              deps_output=deps_output, url_env=url_env, manifest=not no_manifest)
    result = outcome.result
    for archive in result.archives:
        limit = f", limit {format_size(archive.limit_bytes)}" if archive.limit_bytes else ""
        rep.info(f"{archive.role:>5}: {archive.path}  {format_size(archive.size)} ({archive.entries} files, "
                 f"{format_size(archive.unzipped_bytes)} unzipped{limit})  sha256 {archive.sha256}")
    if result.manifest_path:
        rep.info(f"manifest: {result.manifest_path}")
    if result.layout == "split":
        rep.info(f"preload order ({result.preload_source}): {', '.join(result.preload) or 'nothing to preload'}")
    if snippet:
        options = {"handler": handler} if handler else {}
        if function and function.function_name:
            options["name"] = function.function_name
        snippet_text = make_snippet(result, snippet, **options)
        if not as_json:
            click.echo(snippet_text, nl=False)
    if as_json:
        click.echo(json.dumps({
            "schema": "fcslim.pack/1",
            "layout": result.layout,
            "runtime": profile.name,
            "archives": [a.to_dict() for a in result.archives],
            "manifest": str(result.manifest_path) if result.manifest_path else None,
            "preload": list(result.preload) if result.layout == "split" else None,
            "snippet": snippet_text if snippet else None,
        }, indent=2))
    if not no_gate:
        gate_bundle(report, profile, outcome, request)
    for line in next_steps(result, handler=handler, snippet_shown=snippet):
        rep.info(line)
