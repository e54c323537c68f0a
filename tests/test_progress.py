"""Progress output: verbosity, NO_COLOR, and no bars when not a terminal."""

from __future__ import annotations

import io
import re

from fcslim.core.progress import NORMAL, QUIET, VERBOSE, Reporter, configure, format_seconds, reporter


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


def test_not_a_tty_prints_one_plain_line_per_finished_step(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    run_steps(Reporter(NORMAL, out))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("compress: ") and lines[0].endswith(" s")
    assert lines[1:] == ["done", "warning: careful"]
    assert "\033" not in out.getvalue() and "\r" not in out.getvalue() and "==>" not in out.getvalue()


def test_a_step_inside_a_step_is_a_detail():
    out = io.StringIO()
    rep = Reporter(NORMAL, out)
    with rep.step("measure"):
        with rep.step("measure sizes"):
            pass
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == ["measure"]
    loud = io.StringIO()
    rep = Reporter(VERBOSE, loud)
    with rep.step("measure"):
        with rep.step("measure sizes"):
            pass
    assert "  measure sizes: " in loud.getvalue() and loud.getvalue().count("==>") == 1


def test_step_times_are_formatted_for_what_they_measure():
    assert format_seconds(0.4213) == "0.42 s" and format_seconds(2.13) == "2.1 s" and format_seconds(718.04) == "718 s"


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


def test_a_tty_step_shows_its_running_time_and_ends_with_it(monkeypatch):
    import time

    monkeypatch.setenv("NO_COLOR", "1")
    out = FakeTTY()
    rep = Reporter(NORMAL, out)
    with rep.step("install"):
        time.sleep(1.4)
        rep.warn("careful")
        time.sleep(0.3)
    text = out.getvalue()
    assert "\r==> install  1." in text  # redrawn while it runs, with the time so far
    assert "\r\033[Kwarning: careful\n" in text  # a message clears the live line first
    assert re.search(r"\r==> install \(1\.[0-9] s\)\033\[K\n$", text)  # the finished line


def test_a_bar_takes_over_the_live_line(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = FakeTTY()
    rep = Reporter(NORMAL, out)
    with rep.step("measure"):
        with rep.bar(10, "deflate", unit="files") as bar:
            bar.advance(10)
    text = out.getvalue()
    assert text.startswith("\r==> measure") and "\r==> measure\033[K\n" in text and "100.0%" in text
    assert "(0." not in text  # a short step that showed a bar gets no second line
