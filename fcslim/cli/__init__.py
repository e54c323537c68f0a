"""The `fcslim` command: a thin click layer over the library.

Each verb lives in its own module and only parses options, calls the library,
renders the result and picks the exit code.
"""

from __future__ import annotations

import click

from .. import __version__
from .runtimes_cmd import runtimes
from .resolve_cmd import resolve
from .lock_cmd import lock_command
from .slim_cmd import slim
from .scan_cmd import scan


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fcslim")
def main() -> None:
    """Build Python dependency bundles for a serverless runtime, prove they load
    there, slim them and pack them."""


main.add_command(runtimes)
main.add_command(resolve)
main.add_command(lock_command)
main.add_command(scan)
main.add_command(slim)
