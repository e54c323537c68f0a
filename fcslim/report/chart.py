"""Pictures of where a bundle's bytes went: an SVG stacked bar chart
(distributions x categories, zipped bytes) for the HTML page, and Mermaid pie
charts for Markdown step summaries (GitHub renders ```mermaid blocks; inline
SVG and data: images are stripped there).

The SVG is written by hand: a few rectangles and labels need no charting
library, and a library (matplotlib, plotly) would add tens of MiB and fonts
for output this small.  Colours are the Okabe-Ito palette (distinguishable
with the common colour-vision deficiencies); every bar carries a <title> so a
browser shows exact sizes on hover.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from fcslim.core.units import format_size
from fcslim.report.measure import CATEGORIES, CATEGORY_LABELS, SizeReport

PALETTE = {
    "python": "#0072B2",
    "extensions": "#E69F00",
    "libraries": "#D55E00",
    "data": "#009E73",
    "metadata": "#999999",
}
OTHERS = "(others)"
_CHAR_WIDTH = 7.0  # px per character at font-size 12, generous: labels never overlap
_LEGEND_CHAR_WIDTH = 6.3  # closer to the average glyph, so legend entries sit evenly


@dataclass(frozen=True)
class Bar:
    """One distribution's zipped bytes, split by category."""

    label: str
    segments: tuple[tuple[str, int], ...]  # (category, bytes), in CATEGORIES order

    @property
    def total(self) -> int:
        return sum(value for _category, value in self.segments)


def distribution_bars(report: SizeReport, top: int = 12) -> list[Bar]:
    """The ``top`` distributions by zipped size, then one bar for the rest."""
    ranked = sorted(report.distributions, key=lambda d: (-d.deflated, d.name))
    bars = [Bar(f"{d.name} {d.version}" if d.version else d.name,
                tuple((c, d.categories[c].deflated) for c in CATEGORIES if c in d.categories))
            for d in ranked[:top]]
    rest = ranked[top:]
    if rest:
        totals = {c: sum(d.categories[c].deflated for d in rest if c in d.categories) for c in CATEGORIES}
        bars.append(Bar(f"{OTHERS} {len(rest)} more", tuple((c, v) for c, v in totals.items() if v)))
    return bars


def stacked_bars_svg(bars: list[Bar], title: str, width: int = 760) -> str:
    """Horizontal stacked bars with a legend, as one ``<svg>`` element."""
    row, gap, top = 22, 6, 30
    label_width = min(max((len(b.label) for b in bars), default=10) * _CHAR_WIDTH + 12, width * 0.4)
    value_width = 80
    chart_width = width - label_width - value_width
    used = [c for c in CATEGORIES if any(c == s and v > 0 for b in bars for s, v in b.segments)]
    legend = _legend(used, width, top + len(bars) * (row + gap) + 8)
    height = top + len(bars) * (row + gap) + 8 + legend[1] + 4
    biggest = max((b.total for b in bars), default=0) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
           f"<title>{escape(title)}</title>",
           f'<text x="0" y="16" font-size="14" font-weight="600">{escape(title)}</text>']
    for i, bar in enumerate(bars):
        y = top + i * (row + gap)
        baseline = y + row * 0.7
        out.append(f'<text x="{label_width - 8:.1f}" y="{baseline:.1f}" text-anchor="end">{escape(_clip(bar.label, label_width))}</text>')
        x = float(label_width)
        for category, value in bar.segments:
            if value <= 0:
                continue
            w = max(chart_width * value / biggest, 0.5)
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row}" fill="{PALETTE[category]}">'
                       f"<title>{escape(bar.label)}: {escape(CATEGORY_LABELS[category])} {format_size(value)}</title>"
                       "</rect>")
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{baseline:.1f}">{escape(format_size(bar.total))}</text>')
    out.extend(legend[0])
    out.append("</svg>")
    return "\n".join(out)


def _legend(categories: list[str], width: int, y: int) -> tuple[list[str], int]:
    """Legend entries wrapped into rows; returns (elements, height)."""
    out, x, row = [], 0.0, 0
    for category in categories:
        text = CATEGORY_LABELS[category]
        entry = 16 + len(text) * _LEGEND_CHAR_WIDTH + 14
        if x and x + entry > width:
            x, row = 0.0, row + 1
        top = y + row * 18
        out.append(f'<rect x="{x:.1f}" y="{top}" width="12" height="12" fill="{PALETTE[category]}"/>')
        out.append(f'<text x="{x + 16:.1f}" y="{top + 10}">{escape(text)}</text>')
        x += entry
    return out, (row + 1) * 18 if categories else 0


def _clip(label: str, width: float) -> str:
    limit = max(int(width / _CHAR_WIDTH) - 1, 4)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.2f}"


def _pie(title: str, slices: list[tuple[str, int]]) -> list[str]:
    rows = [(label.replace('"', "'"), value) for label, value in slices if value > 0]
    if not rows:
        return []
    return (["```mermaid", f"pie showData title {title}"]
            + [f'    "{label}" : {_mib(value)}' for label, value in rows] + ["```"])


def mermaid_charts(report: SizeReport, top: int = 8) -> list[str]:
    """Markdown lines: two Mermaid pies of zipped MiB, by distribution (the
    ``top`` largest and the rest together) and by category."""
    ranked = sorted(report.distributions, key=lambda d: (-d.deflated, d.name))
    slices = [(d.name, d.deflated) for d in ranked[:top]]
    rest = sum(d.deflated for d in ranked[top:])
    if rest:
        slices.append((f"{OTHERS} {len(ranked) - top} more", rest))
    categories = [(CATEGORY_LABELS[c], report.categories[c].deflated) for c in CATEGORIES if c in report.categories]
    by_distribution = _pie("Zipped MiB by distribution", slices)
    by_category = _pie("Zipped MiB by category", categories)
    return by_distribution + ([""] if by_distribution and by_category else []) + by_category
