"""Options of `fcslim resolve` about what native code needs at run time:
import failures, optional libraries, wheels that provide missing libraries,
Debian programs.  Kept together so the verb's own signature stays short: the
decorated command receives them in ``**native`` and passes
:func:`build_fields` of it to :class:`fcslim.pipeline.BuildOptions`."""

from __future__ import annotations

from typing import Callable

import click

NATIVE_OPTIONS = (
    click.option("--allow-import-failure", "allow_import_failures", multiple=True, metavar="NAME",
                 help="Let the build pass although module (or distribution) NAME of the requirements fails to "
                      "import on the runtime (otherwise exit 8). Repeatable."),
)


def native_options(fn: Callable) -> Callable:
    for option in reversed(NATIVE_OPTIONS):
        fn = option(fn)
    return fn


def build_fields(native: dict) -> dict:
    """The :class:`fcslim.pipeline.BuildOptions` fields these options set."""
    return {
        "allow_import_failures": tuple(native.get("allow_import_failures") or ()),
    }
