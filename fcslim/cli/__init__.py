"""The `fcslim` command: a thin click layer over the library.

Each verb lives in its own module and only parses options, calls the library,
renders the result and picks the exit code.  Verb modules are imported only
when their verb runs, so `fcslim runtimes` does not pay for a build's modules or uv.
"""

from __future__ import annotations

from importlib import import_module

import click

from fcslim import __version__

# verb -> (module, attribute), in the order `fcslim --help` lists them.
COMMANDS = {
    "resolve": ("fcslim.cli.resolve_cmd", "resolve"),
    "lock": ("fcslim.cli.lock_cmd", "lock_command"),
    "scan": ("fcslim.cli.scan_cmd", "scan"),
    "fetch": ("fcslim.cli.fetch_cmd", "fetch"),
    "slim": ("fcslim.cli.slim_cmd", "slim"),
    "report": ("fcslim.cli.report_cmd", "report"),
    "pack": ("fcslim.cli.pack_cmd", "pack"),
    "cache": ("fcslim.cli.cache_cmd", "cache_group"),
    "runtimes": ("fcslim.cli.runtimes_cmd", "runtimes"),
}

_SHORT_HELP = {
    "resolve": "Build a bundle for a runtime: install, fetch libraries, slim, verify, report, pack.",
    "lock": "Pin an input for a runtime into a lock with hashes (pip-tools format, or PEP 751 pylock.toml).",
    "scan": "Check that every ELF file in a tree can load on a runtime.",
    "fetch": "Fetch the system libraries a tree needs from the runtime's Debian release.",
    "slim": "Remove what a bundle does not need at run time, proving imports still work.",
    "report": "Report where a bundle's bytes went, and gate on size limits.",
    "pack": "Pack a bundle into a deterministic zip (code, layer or split layout).",
    "cache": "Inspect or clean fcslim's caches.",
    "runtimes": "List the built-in runtime profiles.",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module, attribute = spec
        return getattr(import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every verb (and their stages) just for one line each.
        with formatter.section("Commands"):
            formatter.write_dl([(name, _SHORT_HELP[name]) for name in COMMANDS])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})  # = common.CONTEXT_SETTINGS
@click.version_option(__version__, "-V", "--version", prog_name="fcslim")
def main() -> None:
    """Build Python dependency bundles for a serverless runtime, prove they load
    there, slim them and pack them."""
