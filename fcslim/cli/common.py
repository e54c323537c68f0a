"""What every CLI command shares: error rendering, exit codes, and the options
every verb spells the same way.

Conventions (pip's and uv's where the concepts match), one decorator each so
a new option lands consistently on every verb:

* :func:`runtime_options`: ``-R/--runtime`` plus uv's ``--python-version`` /
  ``--python-platform`` (they choose or check the runtime);
* :func:`input_options` (resolve, lock): the input as an argument or
  ``-r/--requirement``, ``--extra``, ``--group``;
* :func:`verbosity_options`: ``-q/--quiet`` and ``-v/--verbose``;
* :func:`json_option`: ``--json`` on every verb that produces a result;
* :func:`debug_option`: the hidden ``--debug`` (tracebacks of internal errors).

Decorators that rewrite arguments wrap the verb: put ``@handle_errors``
first (right under ``@click.command``, so their errors get exit codes too) and
``@input_options`` above ``@runtime_options``.  Until
0.3, ``-r RUNTIME`` (the old short flag of ``--runtime``) still works, with a
deprecation note, when its value names a runtime and no such file exists.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from fcslim.core import progress
from fcslim.core.errors import EXIT_INTERNAL, FcslimError
from fcslim.core.files import location_error
from fcslim.core.inputs import run_scope
from fcslim.debian.signatures import Trust
from fcslim.resolve.inputs import open_input
from fcslim.resolve.pyproject import ALL_EXTRAS
from fcslim.target.profile import builtin_profiles
from fcslim.target.select import DEFAULT_RUNTIME, select_runtime

Verb = Callable[..., Any]
BUNDLE_RUNTIME = f"the one the bundle was built for, else {DEFAULT_RUNTIME}"
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}  # on every command: click keeps each command's help option


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
        except click.ClickException:  # usage errors: click prints them and exits 2
            raise
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


def debian_trust_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--debian-keyring / --allow-unsigned / --allow-expired-release, for the
    verbs that fetch from Debian."""
    fn = click.option(
        "--allow-expired-release", "allow_expired", is_flag=True,
        help="Accept a Debian Release past its Valid-Until (a frozen snapshot mirror); a warning, recorded "
             "in the bundle. Without it such a Release is refused, as apt refuses it (exit 7).")(fn)
    fn = click.option(
        "--allow-unsigned", is_flag=True,
        help="Accept a Debian mirror whose Release is unsigned or signed by an unknown key (a private mirror); "
             "a loud warning, recorded in the bundle. Indexes and packages are still checked against it.")(fn)
    return click.option(
        "--debian-keyring", "debian_keyrings", multiple=True, metavar="FILE",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Trust Release files signed by the keys in FILE (binary or armoured; repeatable) instead of "
             "Debian's archive keyring.")(fn)


def debian_trust(debian_keyrings: tuple[Path, ...], allow_unsigned: bool, allow_expired: bool = False) -> Trust:
    return Trust(keyrings=tuple(debian_keyrings), allow_unsigned=allow_unsigned, allow_expired=allow_expired)


def deprecated(message: str) -> None:
    """One line on stderr, whatever the verbosity: old spellings must be heard."""
    click.echo(f"fcslim: deprecated: {message}", err=True)


LEGACY_R = ("`-r RUNTIME` is the old spelling of `--runtime`; it still works in this release, but from fcslim 0.3 "
            "`-r` means only `--requirement` (as in pip and uv). Use `-R {value}` or `--runtime {value}`.")


REQUIREMENT_SUFFIXES = (".txt", ".in", ".lock", ".toml", ".cfg")


def names_a_runtime(value: str, other_input: bool = False) -> bool:
    """Whether ``-r VALUE`` is the old ``--runtime`` spelling: a profile
    ``.json`` (no input fcslim reads is JSON), or a built-in name that is not
    an existing file, or (beside an INPUT argument) a name that is neither an
    existing file nor shaped like one (no ``/``, no requirements suffix), so
    that a mistyped runtime still gets the runtime error."""
    path = Path(value)
    if value.endswith(".json"):
        return True
    if path.exists():
        return False
    if value in builtin_profiles():
        return True
    return other_input and "/" not in value and not value.endswith(REQUIREMENT_SUFFIXES)


def runtime_options(default: str | None = DEFAULT_RUNTIME, legacy_short: bool = True,
                    default_help: str | None = None) -> Callable[[Verb], Verb]:
    """``-R/--runtime``, ``--python-version`` and ``--python-platform``; the verb
    receives ``runtime`` (a name or profile path; ``default`` when none chose).

    ``legacy_short`` keeps the deprecated ``-r RUNTIME`` on verbs where ``-r``
    means nothing else (every verb but resolve and lock)."""
    shown = f" (default: {default_help or default})" if default or default_help else ""

    def decorate(fn: Verb) -> Verb:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime = kwargs.pop("runtime")
            legacy = kwargs.pop("legacy_runtime", None)
            if legacy is not None:
                deprecated(LEGACY_R.format(value=legacy))
                if runtime is not None and runtime != legacy:
                    raise click.UsageError(f"-r {legacy} and --runtime {runtime} name two runtimes.")
                runtime = legacy
            kwargs["runtime"] = select_runtime(runtime, kwargs.pop("python_version"),
                                               kwargs.pop("python_platform"), default)
            return fn(*args, **kwargs)

        options = [
            click.option("--runtime", "-R", "runtime", default=None, metavar="RUNTIME",
                         help="Target runtime: a built-in name (see `fcslim runtimes`) or a profile JSON file"
                              + shown + "."),
            click.option("--python-version", default=None, metavar="X.Y",
                         help="uv's spelling: the built-in runtime of this Python (with --runtime: checked "
                              "against it)."),
            click.option("--python-platform", default=None, metavar="PLATFORM",
                         help="uv's spelling, e.g. aarch64-manylinux_2_34: narrows --python-version to a machine "
                              "and glibc."),
        ]
        if legacy_short:
            options.append(click.option("-r", "legacy_runtime", default=None, hidden=True))
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def verbosity_options(fn: Verb) -> Verb:
    """``-q/--quiet`` and ``-v/--verbose``: they configure the run's progress
    reporter (stderr); the verb's result on stdout is never silenced."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        progress.configure(quiet=kwargs.pop("quiet"), verbose=kwargs.pop("verbose"))
        return fn(*args, **kwargs)

    wrapper = click.option("-v", "--verbose", count=True, help="Say more: details and step timings.")(wrapper)
    wrapper = click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")(wrapper)
    return wrapper


def json_option(help_text: str = "Print the result as JSON on stdout.") -> Callable[[Verb], Verb]:
    """``--json``: the verb receives ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def debug_option(fn: Verb) -> Verb:
    """The hidden ``--debug`` (read by :func:`handle_errors` from argv)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("debug", None)
        return fn(*args, **kwargs)

    return click.option("--debug", is_flag=True, hidden=True)(wrapper)


def input_options(fn: Verb) -> Verb:
    """The build input, as pip and uv spell it: ``INPUT`` or ``-r/--requirement
    FILE`` (a requirements file, ``pyproject.toml``, ``uv.lock``,
    ``pylock.toml``, or ``-`` for standard input), ``--extra`` and ``--group``;
    the verb receives ``source`` (an :class:`fcslim.resolve.inputs.InputSpec`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = kwargs.pop("input_arg")
        inputs = [given] if given else []
        for value in kwargs.pop("requirement_files"):
            if names_a_runtime(value, bool(given)) and kwargs.get("legacy_runtime") is None:
                kwargs["legacy_runtime"] = value  # the old `-r RUNTIME`; runtime_options warns
            else:
                inputs.append(value)
        if not inputs:
            raise click.UsageError("Missing the input: pass INPUT or -r FILE (a requirements.txt, pyproject.toml, "
                                   "uv.lock or pylock.toml; - reads requirements from standard input).")
        extras = tuple(kwargs.pop("extras")) + ((ALL_EXTRAS,) if kwargs.pop("all_extras") else ())
        kwargs["source"] = open_input(inputs[0], extras, tuple(kwargs.pop("groups")),
                                      stdin=sys.stdin, also=tuple(inputs[1:]),
                                      constraints=tuple(kwargs.pop("constraint_files")))
        return fn(*args, **kwargs)

    options = [
        click.argument("input_arg", metavar="[INPUT]", required=False),
        click.option("-r", "--requirement", "requirement_files", multiple=True, metavar="FILE",
                     help="The input, as pip and uv spell it (instead of INPUT; more requirement files are added to "
                          "it, repeatable)."),
        click.option("-c", "--constraint", "constraint_files", multiple=True, metavar="FILE",
                     help="Constrain versions with this file, as pip and uv do (repeatable)."),
        click.option("--extra", "extras", multiple=True, metavar="NAME",
                     help="Also install this optional-dependency extra (pyproject.toml, uv.lock, pylock.toml)."),
        click.option("--all-extras", is_flag=True, help="Install every optional-dependency extra (as uv does)."),
        click.option("--group", "groups", multiple=True, metavar="NAME",
                     help="Also install this dependency group (PEP 735; pyproject.toml, uv.lock, pylock.toml)."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
