"""Progress output: verbosity, NO_COLOR, and no bars when not a terminal."""

from __future__ import annotations

import io

from fcslim.core.progress import NORMAL, QUIET, VERBOSE, Reporter, configure, reporter


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_steps(rep: Reporter) -> None:
    with rep.step("compress"):
        with rep.bar(1000, "deflate") as bar:
            for _ in range(10):
                bar.advance(100)
        rep.detail("10 chunks")
    rep.info("done")
    rep.warn("careful")


def test_not_a_tty_prints_steps_but_no_bars_or_escapes(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    run_steps(Reporter(NORMAL, out))
    text = out.getvalue()
    assert text == "==> compress\ndone\nwarning: careful\n"


def test_a_tty_draws_bars_and_colour_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = FakeTTY()
    run_steps(Reporter(NORMAL, out))
    text = out.getvalue()
    assert "\r" in text and "100.0%" in text and "\033[1;34m" in text
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTTY()
    run_steps(Reporter(NORMAL, plain))
    assert "\033[1;34m" not in plain.getvalue() and "\r" in plain.getvalue()  # bars stay, colour goes


def test_quiet_and_verbose(monkeypatch):
    out = io.StringIO()
    run_steps(Reporter(QUIET, out))
    assert out.getvalue() == "warning: careful\n"
    loud = io.StringIO()
    run_steps(Reporter(VERBOSE, loud))
    lines = loud.getvalue().splitlines()
    assert lines[0] == "==> compress" and lines[1] == "  10 chunks"
    assert lines[2].startswith("    compress: ") and lines[2].endswith("s")
    quiet_tty = FakeTTY()
    run_steps(Reporter(QUIET, quiet_tty))
    assert "\r" not in quiet_tty.getvalue()


def test_configure_sets_the_shared_reporter():
    stream = io.StringIO()
    rep = configure(verbose=1, stream=stream)
    assert reporter() is rep and rep.verbosity == VERBOSE
    assert configure(quiet=True, verbose=2).verbosity == QUIET
    configure()
