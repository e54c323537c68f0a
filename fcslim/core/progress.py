"""Progress and verbosity for long steps, on stderr.

One :class:`Reporter` per run, shared by every stage through :func:`reporter`.
Stages announce steps and advance bars; the reporter decides what the user sees:

* ``quiet`` (``-q``): warnings only;
* ``normal``: one line per step, and a live bar while a long step runs;
* ``verbose`` (``-v``): also details and how long each step took.

Bars and carriage returns are drawn only when the stream is a terminal: in CI
logs and pipes a step prints its start line and nothing else, so no progress
noise.  ``NO_COLOR`` (any non-empty value, see no-color.org) or a non-terminal
stream turns colour off.

    rep = progress.reporter()
    with rep.step("compress"):
        with rep.bar(total_bytes, "deflate") as bar:
            for chunk in work:
                bar.advance(len(chunk))
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import IO, Iterator

QUIET, NORMAL, VERBOSE = 0, 1, 2

_COLOURS = {"step": "1;34", "warn": "1;33", "ok": "32", "dim": "2"}


class Bar:
    """A progress bar over ``total`` units; silent unless drawn on a terminal."""

    def __init__(self, reporter: "Reporter", total: int, label: str, unit: str = "B"):
        self.reporter = reporter
        self.total = max(int(total), 0)
        self.label = label
        self.unit = unit
        self.done = 0
        self._last_draw = 0.0
        self._drawn = False

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        if not self.reporter.draws_bars:
            return
        now = time.monotonic()
        if now - self._last_draw >= 0.1 or self.done >= self.total:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        width = 30
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(width * fraction)
        amount = (f"{_human(self.done)}/{_human(self.total)}" if self.unit == "B"
                  else f"{self.done}/{self.total}")
        line = f"  {self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}% {amount}"
        self.reporter.stream.write("\r" + line + "\033[K")
        self.reporter.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.reporter.stream.write("\r\033[K")
            self.reporter.stream.flush()
            self._drawn = False

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Reporter:
    """Where and how much to tell the user while work runs."""

    def __init__(self, verbosity: int = NORMAL, stream: IO[str] | None = None,
                 color: bool | None = None, tty: bool | None = None):
        self.verbosity = verbosity
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty()) if tty is None else tty
        if color is None:
            color = self.tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.color = color

    @property
    def draws_bars(self) -> bool:
        return self.tty and self.verbosity >= NORMAL

    def _paint(self, kind: str, text: str) -> str:
        if not self.color:
            return text
        return f"\033[{_COLOURS[kind]}m{text}\033[0m"

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def info(self, text: str) -> None:
        if self.verbosity >= NORMAL:
            self._write(text)

    def detail(self, text: str) -> None:
        if self.verbosity >= VERBOSE:
            self._write(self._paint("dim", "  " + text))

    def warn(self, text: str) -> None:
        self._write(self._paint("warn", "warning: ") + text)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Announce a step; in verbose mode say how long it took."""
        if self.verbosity >= NORMAL:
            self._write(self._paint("step", "==> ") + name)
        started = time.perf_counter()
        yield
        if self.verbosity >= VERBOSE:
            self._write(self._paint("dim", f"    {name}: {time.perf_counter() - started:.2f}s"))

    def bar(self, total: int, label: str, unit: str = "B") -> Bar:
        return Bar(self, total, label, unit)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


_current: Reporter | None = None


def reporter() -> Reporter:
    """The run's reporter (a normal one on stderr until :func:`configure`)."""
    global _current
    if _current is None:
        _current = Reporter()
    return _current


def configure(quiet: bool = False, verbose: int = 0, stream: IO[str] | None = None) -> Reporter:
    """Set the run's reporter from ``-q``/``-v`` flags; returns it."""
    global _current
    level = QUIET if quiet else (VERBOSE if verbose else NORMAL)
    _current = Reporter(level, stream)
    return _current
