"""Where the bytes went, as pictures: Mermaid pies in the Markdown summary, a
self-contained HTML page, and that page drawn by a real browser (headless
Chromium; the test is skipped, saying so, where Chromium is not installed)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_INPUT, EXIT_OK, EXIT_SIZE, OutputRefusedError
from fcslim.report.chart import PALETTE, distribution_bars, mermaid_charts, stacked_bars_svg
from fcslim.report.html import render_html, write_html
from fcslim.report.measure import build_report
from fcslim.report.render import render_markdown
from fcslim.target.profile import load_profile
from tests.support.browser import chromium, dump_dom, png_colours, render_mermaid, screenshot
from tests.conftest import suite_cache_dir
from tests.support.bundles import make_bundle, write

FC = load_profile("fc-python3.10")


def mermaid_js() -> Path | None:
    """Mermaid's browser build: $FCSLIM_MERMAID_JS, else the one .ci/run installs
    with npm into the suite's cache."""
    explicit = os.environ.get("FCSLIM_MERMAID_JS")
    path = Path(explicit) if explicit else suite_cache_dir() / "npm/node_modules/mermaid/dist/mermaid.min.js"
    return path if path.is_file() else None


@pytest.fixture
def report(tmp_path, quiet):
    root = make_bundle(tmp_path / "bundle")
    write(root / "pkg_a" / "<b>odd</b> & name.py", "X = '<script>alert(1)</script>'\n")
    return build_report(root, FC, top=100)


def test_markdown_has_mermaid_pies_whose_slices_add_up(report):
    markdown = render_markdown(report)
    blocks = re.findall(r"```mermaid\n(.*?)```", markdown, re.S)
    assert len(blocks) == 2
    assert blocks[0].startswith("pie showData title Zipped MiB by distribution")
    assert blocks[1].startswith("pie showData title Zipped MiB by category")
    for block in blocks:
        values = [float(v) for v in re.findall(r'^    ".+" : ([0-9.]+)$', block, re.M)]
        assert values and abs(sum(values) - report.totals.deflated / 2**20) < 0.01 * len(values) + 0.01


def test_many_distributions_are_folded_into_others(report):
    lines = mermaid_charts(report, top=1)
    assert sum(1 for l in lines if l.startswith('    "(others)')) == 1
    bars = distribution_bars(report, top=1)
    assert bars[-1].label.startswith("(others)") and sum(b.total for b in bars) == report.totals.deflated


def test_svg_bars_are_scaled_and_labelled(report):
    svg = stacked_bars_svg(distribution_bars(report), "t")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    widths = [float(w) for w in re.findall(r'<rect x="[0-9.]+" y="\d+" width="([0-9.]+)" height="22"', svg)]
    assert widths and max(widths) <= 760
    assert all(colour in svg for colour in {PALETTE[c] for d in report.distributions for c in d.categories})


def test_html_page_is_self_contained_and_escaped(report):
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)\s*=|url\(|@import|https?://(?!www\.w3\.org/2000/svg)', page)
    assert "&lt;b&gt;odd&lt;/b&gt; &amp; name.py" in page
    assert "<b>odd</b>" not in page


def test_html_file_is_written_and_only_its_own_is_replaced(report, tmp_path):
    out = tmp_path / "report.html"
    write_html(report, out)
    write_html(report, out)  # an earlier page of ours: replaced
    mine = tmp_path / "notes.html"
    mine.write_text("<html>my notes</html>")
    with pytest.raises(OutputRefusedError):
        write_html(report, mine)
    assert mine.read_text() == "<html>my notes</html>"


def test_cli_report_html(report, tmp_path):
    out = tmp_path / "page.html"
    result = CliRunner().invoke(main, ["report", str(report.root), "--html", str(out), "--no-gate",
                                       "--no-step-summary"], catch_exceptions=False)
    assert result.exit_code == EXIT_OK, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    (tmp_path / "taken.html").write_text("not ours")
    refused = CliRunner().invoke(main, ["report", str(report.root), "--html", str(tmp_path / "taken.html"),
                                        "--no-gate", "--no-step-summary"], catch_exceptions=False)
    assert refused.exit_code == EXIT_INPUT


@pytest.mark.skipif(chromium() is None, reason="headless Chromium is not installed (Debian: apt-get install chromium)")
def test_chromium_draws_the_page(report, tmp_path):
    page = tmp_path / "report.html"
    write_html(report, page)
    dom = dump_dom(page)
    assert dom.count("<rect") >= len(report.distributions) and "Where the bytes went" in dom
    png = screenshot(page, tmp_path / "report.png", width=1000, height=1200)
    colours = png_colours(png)
    drawn = {c for d in report.distributions for c in d.categories}
    for category in drawn:  # every category's colour is on screen, as bars and legend
        rgb = tuple(int(PALETTE[category][i:i + 2], 16) for i in (1, 3, 5))
        assert colours.get(rgb, 0) > 50, f"{category} ({PALETTE[category]}) is not drawn"
    assert len(colours) > 20  # text, cards, tables: not a blank page


@pytest.mark.skipif(chromium() is None or mermaid_js() is None,
                    reason="needs headless Chromium and Mermaid's browser build (npm install mermaid; .ci/run does it "
                           "into the suite's cache, or set FCSLIM_MERMAID_JS)")
def test_the_mermaid_blocks_render_as_pies_in_mermaid(report, tmp_path):
    blocks = re.findall(r"```mermaid\n(.*?)```", render_markdown(report), re.S)
    assert render_mermaid(blocks, mermaid_js(), tmp_path) == ["pie", "pie"]
    # and the check can fail: a broken block is reported as an error diagram
    assert render_mermaid(["pie showData title x\n    numpy : x\n"], mermaid_js(), tmp_path) == ["error"]


def test_resolve_writes_the_page_also_over_a_limit(tmp_path, links, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.txt").write_text("needs-backport\n")
    base = ["resolve", "requirements.txt", "-o", "build", "--no-index", "-f", str(links), "--no-fetch", "--no-slim",
            "--no-verify", "--no-cache"]
    inside = CliRunner().invoke(main, [*base, "--html", "build/report.html"], catch_exceptions=False)
    assert inside.exit_code == EXIT_INPUT and "inside the bundle" in inside.output
    over = CliRunner().invoke(main, [*base, "--html", "report.html", "--max-zip", "100"], catch_exceptions=False)
    assert over.exit_code == EXIT_SIZE
    page = (tmp_path / "report.html").read_text()
    assert "over a limit" in page and "needs-backport" in page
