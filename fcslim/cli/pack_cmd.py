"""`fcslim pack DIR --layout code|layer|split --output bundle.zip`.

Writes deterministic zips (same bundle, same bytes; ``$SOURCE_DATE_EPOCH``
sets the entries' date), ``<output>.manifest.json`` for other packagers, and
with ``--snippet`` prints a ready-to-paste s.yaml (Serverless Devs fc3) or
template.yml (Funcraft) fragment.  ``--from s.yaml`` takes the runtime and the
function's code directory (added to the code zip) from a Serverless Devs
project.

Exit 9 (SizeLimitError) when the code zip is over the runtime's zipped limit or
--max-zip/--max-unzipped (``--no-gate`` writes it anyway without the check);
10 (PackError) when a zip or the manifest cannot be written; 3 for bad input.
"""

from __future__ import annotations

from pathlib import Path

import click

from fcslim.core import progress
from fcslim.core.errors import InputError
from fcslim.pack.handoff import SNIPPET_FORMATS, read_serverless_devs, snippet as make_snippet
from fcslim.report.limits import check_limits, format_size, limit_checks
from fcslim.pack.archive import LAYOUTS, pack as run_pack
from fcslim.report.measure import build_report
from fcslim.target.profile import load_profile
from .common import handle_errors
from .report_cmd import gate_options, verbosity_options

DEFAULT_RUNTIME = "fc-python3.10"


@click.command("pack")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--layout", type=click.Choice(LAYOUTS), default="code", show_default=True,
              help="code: packages at the root, libraries in lib/; layer: python/ and lib/ for /opt; "
                   "split: a small code zip with a loader plus a dependency zip for OSS/S3.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (split: the code zip; the dependencies go to <stem>.deps.zip).")
@click.option("--runtime", "-r", default=None,
              help=f"Target runtime (default {DEFAULT_RUNTIME}, or the one in --from): a built-in name or a profile JSON.")
@click.option("--from", "from_project", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A Serverless Devs s.yaml: take the runtime and the function's code directory from it.")
@click.option("--resource", default=None, help="With --from: which function resource, when there are several.")
@click.option("--code", "code_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The function's own code directory, added at the root of the code zip (code and split layouts).")
@click.option("--no-code", is_flag=True, help="With --from: do not add the function's code directory.")
@click.option("--deps-output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="split: where to write the dependency zip.")
@click.option("--deps-url", default=None,
              help="split: the dependency zip's URL, written into fcslim_deps.json (default: read $FCSLIM_DEPS_URL "
                   "at cold start).")
@click.option("--url-env", default="FCSLIM_DEPS_URL", show_default=True,
              help="split: the environment variable the loader reads the URL from.")
@click.option("--no-manifest", is_flag=True, help="Do not write <output>.manifest.json.")
@click.option("--snippet", type=click.Choice(SNIPPET_FORMATS), default=None,
              help="Print a ready-to-paste fragment for Serverless Devs s.yaml (fc3) or Funcraft template.yml.")
@gate_options
@click.option("--no-gate", is_flag=True, help="Do not check the zip against size limits.")
@verbosity_options
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def pack(directory, layout, output, runtime, from_project, resource, code_dir, no_code, deps_output, deps_url, url_env,
         no_manifest, snippet, max_zip, max_unzipped, via, no_gate, quiet, verbose, debug):
    """Pack the bundle in DIRECTORY into a deterministic zip for the runtime."""
    rep = progress.configure(quiet=quiet, verbose=verbose)
    function = read_serverless_devs(from_project, resource) if from_project else None
    profile = load_profile(runtime or (function.profile_name if function else DEFAULT_RUNTIME))
    if snippet and profile.provider != "fc":
        raise InputError(f"--snippet {snippet} is for Function Compute, but {profile.name} is not an FC runtime "
                         f"(provider {profile.provider}).", "Pack for an fc-* runtime, or leave out --snippet.")
    if code_dir is None and function is not None and not no_code and layout != "layer":
        code_dir = function.code_dir
    result = run_pack(directory, output, layout, profile, code_dir=code_dir, deps_output=deps_output,
                      deps_url=deps_url, url_env=url_env, manifest=not no_manifest)
    for archive in result.archives:
        rep.info(f"{archive.role:>5}: {archive.path}  {format_size(archive.size)} ({archive.entries} files, "
                 f"{format_size(archive.unzipped_bytes)} unzipped)  sha256 {archive.sha256}")
    if result.manifest_path:
        rep.info(f"manifest: {result.manifest_path}")
    if layout == "split":
        rep.info(f"preload order ({result.preload_source}): {', '.join(result.preload) or 'nothing to preload'}")
    if snippet:
        options = {"handler": function.handler} if function and function.handler else {}
        if function and function.function_name:
            options["name"] = function.function_name
        click.echo(make_snippet(result, snippet, **options), nl=False)
    if no_gate:
        return
    main = next(a for a in result.archives if a.role in ("code", "layer"))
    checks = limit_checks(main.size, main.unzipped_bytes, profile, max_zip=max_zip, max_unzipped=max_unzipped, via=via)
    if any(c.gating and not c.ok for c in checks):
        # Over: measure the bundle to name the biggest contributors.
        measured = build_report(directory, profile, layout="layer" if layout == "layer" else "code")
        check_limits(measured, profile, max_zip=max_zip, max_unzipped=max_unzipped, via=via)
