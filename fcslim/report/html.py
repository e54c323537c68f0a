"""``fcslim report --html FILE``: one self-contained page of a size report.

Inline CSS and SVG only: no script, no font, no image or stylesheet from the
network, so the page opens the same from a CI artifact, an e-mail or an
air-gapped machine.  Every value from the bundle (file and distribution
names) is HTML-escaped.  The ``generator`` meta tag marks the file as
fcslim's, so a later run may replace it and nothing else.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fcslim.core.errors import OutputRefusedError
from fcslim.core.files import atomic_write, check_replaceable
from fcslim.report.chart import PALETTE, distribution_bars, stacked_bars_svg
from fcslim.core.units import format_size
from fcslim.report.measure import CATEGORIES, CATEGORY_LABELS, SizeReport

GENERATOR = '<meta name="generator" content="fcslim report --html">'

_CSS = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --ok: #1a7f37; --over: #cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0;
       background: #f6f8fa; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600;
           font-size: 13px; vertical-align: middle; margin-left: 8px; }
.ok { background: var(--ok); } .over { background: var(--over); }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 150px; }
.card b { display: block; font-size: 20px; }
.card span { color: var(--muted); font-size: 12px; }
section.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin-top: 12px;
                overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.path { white-space: normal; word-break: break-all; font-family: ui-monospace, monospace; font-size: 12px; }
.gauge { display: flex; align-items: center; gap: 10px; margin: 6px 0; }
.gauge .track { flex: 1; height: 14px; background: #eaeef2; border-radius: 7px; overflow: hidden; }
.gauge .fill { height: 100%; }
.gauge .label { width: 240px; } .gauge .value { width: 280px; text-align: right; color: var(--muted); white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
footer { color: var(--muted); font-size: 12px; margin: 24px 0; }
"""


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _table(headers: list[str], rows: list[list[str]], numeric: set[int], path_column: int | None = None) -> str:
    head = "".join(f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            css = "num" if i in numeric else ("path" if i == path_column else "")
            cells.append(f'<td class="{css}">{cell}</td>' if css else f"<td>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _limits(report: SizeReport) -> str:
    if not report.limits:
        return '<p class="sub">No limits: the runtime has none and no --max-zip/--max-unzipped was given.</p>'
    out = []
    for check in report.limits:
        fraction = check.measured_bytes / check.limit_bytes if check.limit_bytes else 0.0
        colour = "var(--ok)" if check.ok else "var(--over)"
        state = "within" if check.ok else "OVER"
        enforced = "" if check.gating else " (not enforced)"
        out.append(
            f'<div class="gauge"><div class="label">{escape(check.label)}{escape(enforced)}</div>'
            f'<div class="track"><div class="fill" style="width:{min(fraction, 1.0) * 100:.1f}%;background:{colour}">'
            f'</div></div><div class="value">{escape(format_size(check.measured_bytes))} of '
            f"{escape(format_size(check.limit_bytes))} ({fraction * 100:.0f}%, {state})</div></div>")
    return "\n".join(out)


def _categories(report: SizeReport) -> str:
    total = report.totals.deflated
    rows = [[f'<span class="swatch" style="background:{PALETTE[c]}"></span>{escape(CATEGORY_LABELS[c])}',
             str(report.categories[c].files), escape(format_size(report.categories[c].bytes)),
             escape(format_size(report.categories[c].deflated)), _share(report.categories[c].deflated, total)]
            for c in CATEGORIES if c in report.categories]
    return _table(["category", "files", "unzipped", "zipped", "share"], rows, {1, 2, 3, 4})


def render_html(report: SizeReport, max_rows: int = 40) -> str:
    """The whole page as text."""
    total = report.totals
    runtime = getattr(report.profile, "name", None)
    title = f"fcslim bundle report{f' for {runtime}' if runtime else ''}"
    verdict = '<span class="verdict ok">within limits</span>' if report.ok else \
        '<span class="verdict over">over a limit</span>'
    cards = [(format_size(report.zip_bytes), f"zipped ({report.layout} layout)"),
             (format_size(total.bytes), "unzipped"), (f"{total.files:,}", "files"),
             (f"{len(report.distributions)}", "distributions")]
    if report.slim:
        cards.append((format_size(report.slim.saved_bytes), "saved by slimming"))
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', GENERATOR,
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
        f"<h1>{escape(title)}{verdict}</h1>",
        f'<p class="sub">{escape(str(report.root))}</p>',
        '<div class="cards">' + "".join(f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
                                        for v, k in cards) + "</div>",
        "<h2>Limits</h2>", f'<section class="panel">{_limits(report)}</section>',
        "<h2>Where the bytes went</h2>",
        f'<section class="panel">{stacked_bars_svg(distribution_bars(report), "Zipped bytes by distribution and category")}'
        "</section>",
        f'<section class="panel">{_categories(report)}</section>',
        "<h2>Distributions</h2>",
    ]
    rows = [[escape(d.name), escape(d.version or ""), str(d.files), escape(format_size(d.bytes)),
             escape(format_size(d.deflated)), _share(d.deflated, total.deflated)]
            for d in report.distributions[:max_rows]]
    more = len(report.distributions) - max_rows
    parts.append(f'<section class="panel">{_table(["distribution", "version", "files", "unzipped", "zipped", "share"], rows, {2, 3, 4, 5})}'
                 + (f'<p class="sub">… and {more} more (see --json).</p>' if more > 0 else "") + "</section>")
    parts.append("<h2>Largest files</h2>")
    rows = [[escape(f.path), escape(format_size(f.bytes)), escape(format_size(f.deflated)), escape(f.distribution)]
            for f in report.largest]
    parts.append(f'<section class="panel">{_table(["file", "unzipped", "zipped", "distribution"], rows, {1, 2}, 0)}</section>')
    if report.libraries:
        rows = [[escape(lib.path), escape(lib.package or "?"), escape(lib.version or ""), escape(format_size(lib.bytes)),
                 escape(format_size(lib.deflated))] for lib in report.libraries]
        parts += ["<h2>Fetched system libraries</h2>",
                  f'<section class="panel">{_table(["library", "package", "version", "unzipped", "zipped"], rows, {3, 4}, 0)}</section>']
    if report.baseline:
        b = report.baseline
        rows = [[escape(c.name), escape(format_size(c.before_deflated)), escape(format_size(c.after_deflated)),
                 escape(format_size(c.delta_deflated, signed=True))] for c in b.distributions[:max_rows]]
        parts += [f"<h2>Since the baseline ({escape(b.source)})</h2>",
                  f'<section class="panel"><p>zip {escape(format_size(b.zip_before))} → '
                  f"{escape(format_size(b.zip_after))} ({escape(format_size(b.zip_after - b.zip_before, signed=True))})"
                  f"</p>{_table(['distribution', 'zipped before', 'zipped after', 'change'], rows, {1, 2, 3})}</section>"]
    parts += ['<footer>Sizes are exact: zipped bytes are those of the zip `fcslim pack` writes (deflate level '
              "6); sizes count in powers of 1024.</footer>", "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def is_report_page(path: Path) -> bool:
    """Whether ``path`` is a page this module wrote (it may be replaced)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return GENERATOR in handle.read(4096)
    except OSError:
        return False


HINT = "Pass --html a new file name, or one an earlier `fcslim report --html` wrote."


def check_html_output(path: str | Path, bundle: str | Path | None = None) -> None:
    """Refuse, before any work, a page path fcslim may not write: an input, a
    file it did not write, or a place inside the bundle (it would be packed)."""
    target = Path(path).resolve()
    if bundle is not None and Path(bundle).resolve() in target.parents:
        raise OutputRefusedError(f"The HTML report {path} would be written inside the bundle {bundle}.",
                                 "Write it beside the bundle, e.g. --html report.html.")
    check_replaceable(path, "HTML report", is_report_page, HINT)


def write_html(report: SizeReport, path: str | Path) -> Path:
    """Write the page to ``path`` atomically; an existing file is replaced only
    when it is an earlier fcslim report page."""
    return atomic_write(path, render_html(report), role="HTML report", owned=is_report_page, hint=HINT)
