"""What every CLI command shares: error rendering, exit codes, common options."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from fcslim.core.errors import EXIT_INTERNAL, FcslimError
from fcslim.core.files import location_error
from fcslim.core.inputs import run_scope
from fcslim.debian.signatures import Trust


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an :class:`FcslimError` into one paragraph on stderr and its exit code.

    Each command is one run (:func:`fcslim.core.inputs.run_scope`): nothing it
    reads may be written by it.  An ``OSError`` the host caused (read-only file
    system, permission denied, full disk...) that no stage turned into an
    :class:`FcslimError` is still reported as one (exit 11), naming the path."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with run_scope():
                return fn(*args, **kwargs)
        except FcslimError as exc:
            click.echo(f"fcslim: error: {exc.paragraph()}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:  # `fcslim ... | head`: the reader left, not an error
            sys.stderr.close()
            sys.exit(0)
        except OSError as exc:
            mapped = location_error(exc, writing=False)
            if mapped is None:
                _internal(exc)
            click.echo(f"fcslim: error: {mapped.paragraph()}", err=True)
            sys.exit(mapped.exit_code)
        except KeyboardInterrupt:
            click.echo("fcslim: interrupted; nothing was swapped into the output.", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: say so, keep the traceback available
            _internal(exc)

    return wrapper


def _internal(exc: Exception) -> None:
    if "--debug" in sys.argv:
        raise exc
    click.echo(
        f"fcslim: internal error: {type(exc).__name__}: {exc}. "
        "This is a bug in fcslim; run again with --debug for the traceback and report it.",
        err=True,
    )
    sys.exit(EXIT_INTERNAL)


runtime_option = click.option(
    "--runtime",
    "-r",
    "runtime",
    default="fc-python3.10",
    show_default=True,
    help="Target runtime: a built-in name (see `fcslim runtimes`) or a profile JSON file.",
)


def debian_trust_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--debian-keyring / --allow-unsigned, for the verbs that fetch from Debian."""
    fn = click.option(
        "--allow-unsigned", is_flag=True,
        help="Accept a Debian mirror whose Release is unsigned or signed by an unknown key (a private mirror); "
             "a loud warning, recorded in the bundle. Indexes and packages are still checked against it.")(fn)
    return click.option(
        "--debian-keyring", "debian_keyrings", multiple=True, metavar="FILE",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Trust Release files signed by the keys in FILE (binary or armoured; repeatable) instead of "
             "Debian's archive keyring.")(fn)


def debian_trust(debian_keyrings: tuple[Path, ...], allow_unsigned: bool) -> Trust:
    return Trust(keyrings=tuple(debian_keyrings), allow_unsigned=allow_unsigned)


# Verbs that read a bundle (scan, fetch, slim, report, pack) check it against
# the runtime it was built for, from its .fcslim/install.json, unless told.
bundle_runtime_option = click.option(
    "--runtime",
    "-r",
    "runtime",
    default=None,
    help="Target runtime: a built-in name (see `fcslim runtimes`) or a profile JSON file (default: the one the "
         "bundle was built for, from its .fcslim/install.json, else fc-python3.10).",
)
