"""`fcslim resolve`: install requirements for a target runtime into a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..build import BuildOptions, build
from ..resolve import InstallOptions
from ..target import load_profile
from .common import handle_errors, runtime_option


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
        click.option("--link-mode", type=click.Choice(["copy", "hardlink", "clone"]), default="copy",
                     show_default=True,
                     help="How files leave uv's cache; hardlink is faster but later stages must not edit files in place."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def install_options(index_url, extra_index_url, find_links, no_index, allow_pure_sdist, pre,
                    link_mode="copy") -> InstallOptions:
    return InstallOptions(
        index_url=index_url,
        extra_index_urls=tuple(extra_index_url),
        find_links=tuple(find_links),
        no_index=no_index,
        allow_pure_sdist=allow_pure_sdist,
        pre=pre,
        link_mode=link_mode,
    )


@click.command("resolve")
@click.argument("requirements", type=click.Path(path_type=Path, dir_okay=False))
@runtime_option
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="The bundle directory; replaced as a whole, only when the build succeeds.")
@click.option("--lock", "lock_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Pin REQUIREMENTS for the runtime into this lock (kept if already current) and install from it "
                   "with hashes checked.")
@index_options
@click.option("--no-slim", is_flag=True, help="Skip slimming.")
@click.option("--no-fetch", is_flag=True, help="Do not fetch missing system libraries.")
@click.option("--no-verify", is_flag=True, help="Skip import checks in a clean target root.")
@click.option("--compile", "compile_", is_flag=True, help="Add bytecode for the target's Python.")
@click.option("--pack", "pack_layout", type=click.Choice(["code", "layer", "split"]), help="Also write a zip.")
@click.option("--debian-mirror", metavar="URL", help="Debian mirror for system libraries.")
@click.option("--python", "python", metavar="PATH", help="Interpreter of the target's Python version, for checks.")
@click.option("--json", "as_json", is_flag=True, help="Print the install record as JSON.")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def resolve(requirements, runtime, output, lock_file, index_url, extra_index_url, find_links, no_index,
            allow_pure_sdist, pre, link_mode, no_slim, no_fetch, no_verify, compile_, pack_layout, debian_mirror, python,
            as_json, debug) -> None:
    """Install REQUIREMENTS (a requirements.txt or a lock from `fcslim lock`) for
    the target runtime into the --output directory, a pip -t style tree.

    Markers, Requires-Python and wheel tags are judged for the runtime, not this
    host. Wheels only, unless --allow-pure-sdist."""
    profile = load_profile(runtime)
    options = BuildOptions(
        requirements=requirements,
        profile=profile,
        output=output,
        install=install_options(index_url, extra_index_url, find_links, no_index, allow_pure_sdist, pre, link_mode),
        lock=lock_file,
        slim=not no_slim,
        fetch=not no_fetch,
        verify=not no_verify,
        compile=compile_,
        pack_layout=pack_layout,
        debian_mirror=debian_mirror,
        python=python,
    )
    result = build(options)
    record = result.records["install"]
    if as_json:
        click.echo(record.read_text().rstrip())
        return
    dists = result.install.distributions
    total = sum(d.size for d in dists)
    how = "hash-checked from a lock" if result.install.hash_checked else "resolved"
    click.echo(f"{len(dists)} distributions for {profile.name} ({how}) in {result.output} "
               f"({total / 1e6:.1f} MB, {result.seconds:.1f}s)")
    for d in dists:
        click.echo(f"  {d.name}=={d.version}  {d.wheel}")
    if result.lock and not result.lock.reused:
        click.echo(f"lock written: {result.lock.output}")
