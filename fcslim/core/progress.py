"""Progress and verbosity for long steps, on stderr.

One :class:`Reporter` per run, shared by every stage through :func:`reporter`.
Stages announce steps and advance bars; the reporter decides what the user sees:

* ``quiet`` (``-q``): warnings only;
* ``normal``: on a terminal, one live line per step with its running time,
  and a bar while a step with a known amount of work runs; in a log (not a terminal), one plain line per finished step with
  its time (``install: 2.1 s``) and nothing else;
* ``verbose`` (``-v``): also details and how long each step took.

Bars and carriage returns are drawn only when the stream is a terminal, so
CI logs carry no progress noise.  Step names say what the step does and
never name a path (staging directories are an implementation detail).  ``NO_COLOR`` (any non-empty value, see no-color.org) or a non-terminal
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
import threading
import time
from contextlib import contextmanager
from typing import IO, Iterator

from fcslim.core.units import format_size

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
        self.reporter.bar_started()
        width = 30
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(width * fraction)
        amount = (f"{format_size(self.done)}/{format_size(self.total)}" if self.unit == "B"
                  else f"{self.done}/{self.total}")
        line = f"  {self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}% {amount}"
        with self.reporter.lock:
            self.reporter.stream.write("\r" + line + "\033[K")
            self.reporter.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            with self.reporter.lock:
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
        self._depth = 0
        self.lock = threading.Lock()
        self._ticker: _Ticker | None = None

    @property
    def draws_bars(self) -> bool:
        return self.tty and self.verbosity >= NORMAL

    def _paint(self, kind: str, text: str) -> str:
        if not self.color:
            return text
        return f"\033[{_COLOURS[kind]}m{text}\033[0m"

    def _write(self, text: str) -> None:
        with self.lock:
            if self._ticker is not None and self._ticker.open_line:
                self.stream.write("\r\033[K")  # the live step line goes; the ticker draws it again
            self.stream.write(text + "\n")
            self.stream.flush()

    def bar_started(self) -> None:
        """A bar takes the line: the live step line is ended and stops ticking."""
        ticker = self._ticker
        if ticker is not None:
            ticker.yield_line()

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
        """One step of the run, named for what it does (never for a path).

        On a terminal: a live line, ``==> name  3.2 s`` while it runs, that
        ends as ``==> name (3.4 s)``; a bar takes the line over (the step's
        time then follows when it took a second or more).  In a log (not a
        terminal): one plain line when it finished, ``name: 2.1 s``, and
        nothing while it runs.  Verbose: a start and an end line, always.  A
        step inside another is a detail."""
        if self._depth:
            started = time.perf_counter()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            self.detail(f"{name}: {format_seconds(time.perf_counter() - started)}")
            return
        live = self.tty and self.verbosity == NORMAL
        if live:
            self._ticker = _Ticker(self, self._paint("step", "==> ") + name)
        elif self.verbosity >= VERBOSE:
            self._write(self._paint("step", "==> ") + name)
        started = time.perf_counter()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            ticker, self._ticker = self._ticker, None
            if ticker is not None:
                ticker.stop()
        elapsed = time.perf_counter() - started
        if ticker is not None and ticker.open_line:
            with self.lock:  # the live line becomes the step's finished line
                self.stream.write(f"\r{ticker.text} ({format_seconds(elapsed)})\033[K\n")
                self.stream.flush()
        elif self.verbosity >= VERBOSE or (live and elapsed >= 1.0):
            self._write(self._paint("dim", f"    {name}: {format_seconds(elapsed)}"))
        elif self.verbosity >= NORMAL and not self.tty:
            self._write(f"{name}: {format_seconds(elapsed)}")

    def done(self, name: str, seconds: float) -> None:
        """A step that is only worth a line once it is known to have happened
        (a cache hit): one line, after the fact."""
        if self.verbosity < NORMAL:
            return
        if self.tty or self.verbosity >= VERBOSE:
            self._write(self._paint("step", "==> ") + f"{name} ({format_seconds(seconds)})")
        else:
            self._write(f"{name}: {format_seconds(seconds)}")

    def bar(self, total: int, label: str, unit: str = "B") -> Bar:
        return Bar(self, total, label, unit)


class _Ticker:
    """The live line of a running step on a terminal: ``==> install  3.2 s``,
    redrawn four times a second, until a bar needs the line or the step ends."""

    def __init__(self, reporter: Reporter, text: str):
        self.reporter = reporter
        self.text = text
        self.open_line = True
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._draw(first=True)
        self._thread = threading.Thread(target=self._run, name="fcslim-progress", daemon=True)
        self._thread.start()

    def _draw(self, first: bool = False) -> None:
        elapsed = time.perf_counter() - self.started
        shown = "" if first or elapsed < 1.0 else f"  {format_seconds(elapsed)}"
        with self.reporter.lock:
            if self.open_line:
                self.reporter.stream.write(f"\r{self.text}{shown}\033[K")
                self.reporter.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._draw()

    def yield_line(self) -> None:
        with self.reporter.lock:
            if self.open_line:
                self.open_line = False
                self.reporter.stream.write(f"\r{self.text}\033[K\n")
                self.reporter.stream.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def format_seconds(seconds: float) -> str:
    """``0.42 s``, ``2.1 s``, ``718 s``: what a step line shows."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"


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
