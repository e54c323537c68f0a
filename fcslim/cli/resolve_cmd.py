"""`fcslim resolve`: install requirements for a target runtime into a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fcslim.pipeline import BuildOptions, build
from fcslim.core.errors import InputError, SizeLimitError
from fcslim.core.repeats import collapse_repeats
from fcslim.core.progress import format_seconds, reporter
from fcslim.core.units import format_size
from fcslim.resolve.options import InstallOptions
from fcslim.target.profile import load_profile
from fcslim.pack.snippets import SNIPPET_FORMATS, next_steps, snippet as make_snippet
from .common import (
    CONTEXT_SETTINGS,
    debian_trust,
    debian_trust_options,
    debug_option,
    handle_errors,
    input_options,
    json_option,
    runtime_options,
    verbosity_options,
)
from .native_options import build_fields, native_options
from .stage_options import gate_options, remote_cache_options, slim_options, user_rules_from_options


def index_options(fn):
    """Index and build options shared by `resolve` and `lock`."""
    options = [
        click.option("--index-url", "-i", metavar="URL", help="Base URL of the package index (default: PyPI)."),
        click.option("--extra-index-url", multiple=True, metavar="URL", help="Another index to use (repeatable)."),
        click.option("--find-links", "-f", multiple=True, metavar="DIR|URL",
                     help="A directory or page of wheels to use (repeatable)."),
        click.option("--no-index", is_flag=True, help="Use no index, only --find-links locations."),
        click.option("--allow-pure-sdist", is_flag=True,
                     help="Build pure-Python sdists of distributions without a wheel (native sdists are refused)."),
        click.option("--pre", is_flag=True, help="Allow pre-release versions."),
        click.option("--link-mode", type=click.Choice(["copy", "hardlink", "clone"]), default="hardlink",
                     show_default=True,
                     help="How files leave uv's cache (uv falls back to copying across filesystems). Later stages "
                          "never edit an installed file in place: they replace it."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def install_options(index_url, extra_index_url, find_links, no_index, allow_pure_sdist, pre,
                    link_mode="hardlink") -> InstallOptions:
    return InstallOptions(
        index_url=index_url,
        extra_index_urls=tuple(extra_index_url),
        find_links=tuple(find_links),
        no_index=no_index,
        allow_pure_sdist=allow_pure_sdist,
        pre=pre,
        link_mode=link_mode,
    )


@click.command("resolve", context_settings=CONTEXT_SETTINGS)
@handle_errors
@input_options
@runtime_options(legacy_short=False)
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="The bundle directory; replaced as a whole, only when the build succeeds.")
@click.option("--lock", "lock_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Pin INPUT for the runtime into this lock (kept if already current) and install from it "
                   "with hashes checked.")
@index_options
@click.option("--no-fetch", is_flag=True, help="Do not fetch missing system libraries (only report them).")
@click.option("--patch-runpath", is_flag=True,
              help="Also give bundled ELF files a RUNPATH to the fetched libraries (runtimes without lib/ on their path).")
@click.option("--debian-mirror", metavar="URL", help="Debian mirror for system libraries (overrides the runtime's).")
@debian_trust_options
@click.option("--no-slim", is_flag=True, help="Skip slimming.")
@slim_options
@gate_options
@click.option("--no-gate", is_flag=True, help="Do not fail when the bundle is over a size limit.")
@click.option("--pack", "pack_layout", type=click.Choice(["auto", "code", "layer", "split"]),
              help="Also pack the bundle: auto plans the fewest zips that fit the runtime (the code zip alone, "
                   "else the heaviest distributions in layers, else the split layout fetched at cold start); "
                   "each zip is gated against its own limit.")
@click.option("--handler", metavar="MODULE.FUNCTION", default=None,
              help="Your function's handler (index.handler): the split loader calls it, and the snippets and next "
                   "steps name it.")
@click.option("--upload", "upload_url", metavar="URL", default=None,
              help="With --pack split (or auto choosing it): upload the dependency zip to s3://bucket/prefix/ or "
                   "oss://bucket/prefix/ as <sha256>.zip; the loader fetches it with the function's own credentials.")
@click.option("--smoke", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Your own check (a script calling your handler with a sample event; its directory is your "
                   "function code): run on the target after the build, every file it opens recorded; reports the "
                   "distributions and files it never touched.")
@click.option("--prune-untraced", is_flag=True,
              help="With --smoke: remove the distributions the smoke never touched, then run it again to prove it.")
@click.option("--prune-files", is_flag=True,
              help="With --prune-untraced: also remove untouched files of the distributions it did touch.")
@click.option("--disk", metavar="SIZE", default=None,
              help="The function's /tmp size for the split layout (default: the runtime's, FC and Lambda 512MB; "
                   "up to 10GB).")
@click.option("--pack-output", type=click.Path(path_type=Path, dir_okay=False),
              help="Where --pack writes its zip (default: beside the output, e.g. build.zip).")
@click.option("--html", "html_file", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="Also write the size report as a self-contained HTML page (as `fcslim report --html`), also "
                   "when the bundle is over a limit.")
@click.option("--snippet", type=click.Choice(SNIPPET_FORMATS), default=None,
              help="Print a ready-to-paste s.yaml (fc3) or template.yml fragment for the packed bundle "
                   "(packs the code layout unless --pack says otherwise).")
@click.option("--no-cache", is_flag=True, help="Build from scratch: neither use nor fill the bundle cache.")
@json_option("Print the whole build as JSON (schema fcslim.build/1).")
@native_options
@verbosity_options
@debug_option
@remote_cache_options
def resolve(source, runtime, output, lock_file, index_url, extra_index_url, find_links, no_index,
            allow_pure_sdist, pre, link_mode, no_fetch, patch_runpath, debian_mirror, debian_keyrings,
            allow_unsigned, allow_expired, no_slim, keep, remove, drop, config,
            skip_rules, python, no_verify, compile_, drop_sources, invalidation_mode, max_zip, max_unzipped, via,
            no_gate, pack_layout, handler, upload_url, smoke, prune_untraced, prune_files, disk, pack_output, html_file, snippet,
            no_cache, as_json, **native) -> None:
    """Build the bundle for INPUT (a requirements.txt or lock from `fcslim
    lock`, a pyproject.toml, a uv.lock, a pylock.toml, or - for requirements on
    standard input) for the target runtime into --output: install wheels chosen
    for the runtime (markers, Requires-Python and tags judged for it, not this
    host), fetch the system libraries it lacks from its Debian release, slim
    with imports proven in the target, report sizes and gate on its limits.

    The output directory is replaced only when every step succeeded."""
    if drop_sources and not compile_:
        raise InputError("--drop-sources needs --compile.", "Add --compile, or leave --drop-sources out.")
    if (prune_untraced or prune_files) and smoke is None:
        raise InputError("--prune-untraced and --prune-files need --smoke FILE: pruning follows what it opens.",
                         "Add --smoke with a script that calls your handler, or leave the pruning options out.")
    profile = load_profile(runtime)
    if html_file is not None:
        from fcslim.report.html import check_html_output, write_html  # only for --html (start-up)

        check_html_output(html_file, output)
    if snippet and not pack_layout:
        pack_layout = "code"
    if upload_url and pack_layout not in ("split", "auto"):
        raise InputError("--upload goes with --pack split (or --pack auto).",
                         "Add --pack split, or leave --upload out.")
    options = BuildOptions(
        requirements=source,
        profile=profile,
        output=output,
        install=install_options(index_url, extra_index_url, find_links, no_index, allow_pure_sdist, pre, link_mode),
        lock=lock_file,
        fetch=not no_fetch,
        patch_runpath=patch_runpath,
        debian_mirror=debian_mirror,
        debian_trust=debian_trust(debian_keyrings, allow_unsigned, allow_expired),
        slim=not no_slim,
        verify=not no_verify,
        compile=compile_,
        drop_sources=drop_sources,
        invalidation_mode=invalidation_mode,
        user_rules=user_rules_from_options(config, keep, remove, drop),
        skip_rules=tuple(skip_rules),
        python=python,
        pack_layout=pack_layout,
        pack_output=pack_output,
        upload=upload_url,
        max_zip=max_zip,
        max_unzipped=max_unzipped,
        via=via,
        disk=disk,
        handler=handler,
        smoke=smoke,
        prune_untraced=prune_untraced or prune_files,
        prune_files=prune_files,
        gate=not no_gate,
        cache=not no_cache,
        **build_fields(native, config),
    )
    try:
        result = build(options)
    except SizeLimitError as exc:
        if getattr(exc, "result", None) is not None:
            _render(exc.result, as_json, handler)
            if html_file is not None:
                write_html(exc.result.report, html_file)
        raise
    _render(result, as_json, handler)
    if html_file is not None:
        reporter().info(f"HTML report: {write_html(result.report, html_file)}")
    if snippet and result.pack is not None and not as_json:
        click.echo(make_snippet(result.pack, snippet, **({"handler": handler} if handler else {})), nl=False)


def build_summary(result) -> dict:
    """The `--json` document: the build's records in one object (schema
    fcslim.build/1): install, libraries, slim and report as written in
    .fcslim/, plus timings, warnings and the packed archives."""
    records = {}
    for name, path in result.records.items():
        try:
            records[name] = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            records[name] = None
    return {
        "schema": "fcslim.build/1",
        "output": str(result.output),
        "runtime": result.profile.name,
        "cached": result.cached,
        "seconds": round(result.seconds, 3),
        "stage_seconds": result.stage_seconds,
        "warnings": list(result.warnings),
        "install": records.get("install"),
        "libraries": records.get("libraries"),
        "slim": records.get("slim"),
        "report": records.get("report"),
        "archives": [a.to_dict() for a in result.pack.archives] if result.pack is not None else [],
        "artifacts": [a.artifact_dict() for a in result.pack.archives] if result.pack is not None else [],
        "plan": result.plan.to_dict() if result.plan is not None else None,
        "smoke": records.get("smoke"),
        "lighter": [a.to_dict() for a in result.advice],
        "prune": records.get("prune"),
    }


def smoke_lines(outcome) -> list[str]:
    """The smoke run, what it never touched and what was pruned, in a few lines."""
    first = outcome.first
    lines = [f"smoke: {first.script} passed in {first.where} ({first.seconds:.1f}s)"]
    trace = outcome.trace
    if trace is None:
        lines[0] += f"; not traced: {first.trace_reason}"
        return lines
    share = trace.untouched_bytes / max(trace.total_bytes, 1)
    lines[0] += (f"; it opened {trace.opened} files of the bundle, {format_size(trace.untouched_bytes)} of "
                 f"{format_size(trace.total_bytes)} ({share:.0%}) never touched")
    never = trace.never_touched
    if never:
        lines.append("  never touched: " + ", ".join(f"{d.name} {format_size(d.bytes)}" for d in never[:8])
                     + (f" and {len(never) - 8} more" if len(never) > 8 else ""))
    if outcome.pruned is not None:
        p = outcome.pruned
        lines.append(f"  pruned {len(p.distributions)} distributions and {len(p.files)} files, "
                     f"{format_size(p.bytes)}; the smoke passed again ({outcome.after.seconds:.1f}s); "
                     "listed in .fcslim/prune.json")
    elif never:
        lines.append("  --prune-untraced removes them (and proves it with the smoke)")
    return lines


def _render(result, as_json: bool, handler: str | None = None) -> None:
    report = result.report
    if as_json:
        click.echo(json.dumps(build_summary(result), indent=2))
        return
    # The report's modules load while uv installs (fcslim.build_verify.import_later_stages), not
    # before the build starts uv: 6-8 ms of start-up (python -X importtime).
    from fcslim.report.lighter import advice_lines
    from fcslim.report.render import render_text

    click.echo(headline(result))
    if result.install is not None:
        for d in result.install.distributions:
            click.echo(f"  {d.name}=={d.version}  {d.wheel}")
    if result.fetch is not None and result.fetch.fetched:
        click.echo(f"fetched {len(result.fetch.fetched)} system libraries from Debian {result.profile.debian.release}:")
        for lib in result.fetch.fetched:
            click.echo(f"  {lib.path}  {lib.package} {lib.version}  ({lib.license})")
    if result.slim is not None:
        s = result.slim
        click.echo(f"slimmed {format_size(s.before_bytes)} -> {format_size(s.after_bytes)}")
        for rb in s.rolled_back:
            click.echo(f"  rolled back {len(rb.files)} files of rule {rb.rule}: removing them broke "
                       f"{', '.join(rb.modules)}")
        v = s.verified
        if v is not None and v.checked:
            click.echo(f"imports: {len(v.passed)} top-level modules import in {v.where}")
    if result.smoke is not None:
        for line in smoke_lines(result.smoke):
            click.echo(line)
    if result.cached and result.warnings:
        # Said when the cached bundle was built; not again on every hit.
        reporter().info(f"({len(result.warnings)} warnings when this bundle was first built: "
                        f"{result.output}/.fcslim/warnings.json)")
    else:
        for warning in collapse_repeats(result.warnings):
            reporter().warn(warning)
    click.echo(render_text(report).rstrip())
    for line in advice_lines(result.advice):
        click.echo(f"lighter: {line}")
    if result.pack is not None:
        for archive in result.pack.archives:
            limit = f" (limit {format_size(archive.limit_bytes)})" if archive.limit_bytes else ""
            click.echo(f"packed {archive.role}: {archive.path}  {format_size(archive.size)} zipped, "
                       f"{format_size(archive.unzipped_bytes)} unzipped{limit}")
        if len(result.pack.archives) > 1 and all(a.ok for a in result.pack.archives):
            click.echo("each packed zip is within its own limit (the limits above measure the bundle as one code zip)")
    if result.lock and not result.lock.reused:
        click.echo(f"lock written: {result.lock.output}")
    click.echo(f"bundle in {result.output}; the whole build took {format_seconds(result.seconds)}")
    if result.pack is not None and all(a.ok for a in result.pack.archives):
        for line in next_steps(result.pack, handler=handler):
            click.echo(line)


def headline(result) -> str:
    """The first line: how many distributions, how they came, and the time of
    that step alone ("resolved and installed 33 distributions … in 2.1 s", not
    the whole build's)."""
    n, name = len(result.distributions), result.profile.name
    seconds = result.stage_seconds
    if result.cached:
        took = seconds.get("restored from the bundle cache")
        return (f"restored {n} distributions for {name} from the bundle cache"
                + (f" in {format_seconds(took)}" if took is not None else ""))
    took = seconds.get("install")
    how = (f"installed {n} distributions hash-checked from a lock" if result.install and result.install.hash_checked
           else f"resolved and installed {n} distributions")
    return f"{how} for {name}" + (f" in {format_seconds(took)}" if took is not None else "")
