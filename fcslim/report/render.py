"""Renderings of a :class:`fcslim.report.measure.SizeReport`: a terminal table, the
versioned JSON (``docs/report-schema.json``) and Markdown for CI step summaries
(appended to ``$GITHUB_STEP_SUMMARY`` by :func:`append_step_summary`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fcslim.report.chart import mermaid_charts
from fcslim.core.units import format_size
from fcslim.report.measure import CATEGORIES, CATEGORY_LABELS, SizeReport


def render_json(report: SizeReport, include_files: bool = False) -> str:
    return json.dumps(report.to_dict(include_files=include_files), indent=2) + "\n"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _main_category(dist) -> str:
    if not dist.categories:
        return "-"
    name = max(dist.categories, key=lambda c: dist.categories[c].deflated)
    return CATEGORY_LABELS[name]


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _limit_line(check) -> str:
    state = "ok" if check.ok else "OVER"
    gate = "" if check.gating else " (not enforced)"
    room = "headroom" if check.ok else "over by"
    return (f"{check.label}: {format_size(check.measured_bytes)} of {format_size(check.limit_bytes)} "
            f"[{check.source}]{gate} — {room} {format_size(abs(check.headroom_bytes))} — {state}")


def render_text(report: SizeReport, max_rows: int = 25) -> str:
    """The terminal table."""
    total = report.totals
    out: list[str] = []
    runtime = getattr(report.profile, "name", None)
    out.append(f"Bundle {report.root}{f' for {runtime}' if runtime else ''}: {total.files} files, "
               f"{format_size(total.bytes)} unzipped, {format_size(report.zip_bytes)} as a {report.layout} zip.")
    out.append("")
    if not report.files:
        out.append("The bundle is empty.")
        out.append("")
        out += [f"  {_limit_line(c)}" for c in report.limits]
        return "\n".join(out) + "\n"
    rows = [[d.name, d.version or "", str(d.files), format_size(d.bytes), format_size(d.deflated),
             _share(d.deflated, total.deflated), _main_category(d)]
            for d in report.distributions[:max_rows]]
    out += _table(["distribution", "version", "files", "unzipped", "zipped", "share", "mostly"], rows, {2, 3, 4, 5})
    hidden = len(report.distributions) - max_rows
    if hidden > 0:
        out.append(f"... and {hidden} more (see --json)")
    out.append("")
    rows = [[CATEGORY_LABELS[c], str(report.categories[c].files), format_size(report.categories[c].bytes),
             format_size(report.categories[c].deflated), _share(report.categories[c].deflated, total.deflated)]
            for c in CATEGORIES if c in report.categories]
    out += _table(["category", "files", "unzipped", "zipped", "share"], rows, {1, 2, 3, 4})
    out.append("")
    out.append("Largest files (zipped):")
    rows = [[f.path, format_size(f.bytes), format_size(f.deflated), f.distribution] for f in report.largest]
    out += _table(["file", "unzipped", "zipped", "distribution"], rows, {1, 2})
    if report.libraries:
        out.append("")
        out.append("Fetched system libraries:")
        rows = [[lib.path, lib.package or "?", lib.version or "", format_size(lib.bytes), format_size(lib.deflated)]
                for lib in report.libraries]
        out += _table(["library", "package", "version", "unzipped", "zipped"], rows, {3, 4})
    if report.slim:
        s = report.slim
        out.append("")
        out.append(f"Slimming: {format_size(s.before_bytes)} → {format_size(s.after_bytes)} "
                   f"(saved {format_size(s.saved_bytes)}, {_share(s.saved_bytes, s.before_bytes)}).")
    if report.skipped_links:
        out.append("")
        for link in report.skipped_links:
            out.append(f"Not packed: {link.path} -> {link.target} ({link.reason}).")
    if report.baseline:
        out.append("")
        out += _baseline_text(report)
    out.append("")
    if report.limits:
        out.append("Limits:")
        out += [f"  {_limit_line(c)}" for c in report.limits]
    else:
        out.append("Limits: none (no runtime limits and no --max-zip/--max-unzipped).")
    return "\n".join(out) + "\n"


def _baseline_text(report: SizeReport, rows: int = 15) -> list[str]:
    b = report.baseline
    out = [f"Since the baseline ({b.source}): zip {format_size(b.zip_before)} → {format_size(b.zip_after)} "
           f"({format_size(b.zip_after - b.zip_before, signed=True)}), unzipped "
           f"{format_size(b.totals.delta_bytes, signed=True)}."]
    if not b.distributions:
        out.append("No distribution changed size.")
        return out
    table = [[c.name, format_size(c.before_deflated), format_size(c.after_deflated),
              format_size(c.delta_deflated, signed=True), format_size(c.delta_bytes, signed=True)]
             for c in b.distributions[:rows]]
    out += _table(["distribution", "zipped before", "zipped after", "zipped change", "unzipped change"], table,
                  {1, 2, 3, 4})
    if b.files:
        out.append("Files that grew most (zipped):")
        out += [f"  {c.name}: {format_size(c.delta_deflated, signed=True)}"
                for c in b.files[:10] if c.delta_deflated > 0]
    return out


def _md_table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    align = ["---:" if i in right else ":---" for i in range(len(headers))]
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    return (["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
            + ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows])


def render_markdown(report: SizeReport, max_rows: int = 15) -> str:
    """Markdown for a CI step summary."""
    total = report.totals
    runtime = getattr(report.profile, "name", None)
    verdict = "✅ within limits" if report.ok else "❌ over a limit"
    out = [f"### fcslim bundle size{f' ({runtime})' if runtime else ''}: {verdict}", ""]
    out.append(f"**{format_size(report.zip_bytes)}** zipped ({report.layout} layout), "
               f"{format_size(total.bytes)} unzipped, {total.files} files.")
    if report.slim:
        out.append(f"Slimming saved {format_size(report.slim.saved_bytes)} "
                   f"({format_size(report.slim.before_bytes)} → {format_size(report.slim.after_bytes)}).")
    out.append("")
    if report.limits:
        rows = [[c.label, format_size(c.limit_bytes), format_size(c.measured_bytes),
                 format_size(c.headroom_bytes, signed=True), ("ok" if c.ok else "**over**") + ("" if c.gating else " (info)")]
                for c in report.limits]
        out += _md_table(["limit", "limit size", "bundle", "headroom", "state"], rows, {1, 2, 3})
        out.append("")
    rows = [[d.name, d.version or "", format_size(d.deflated), format_size(d.bytes), _share(d.deflated, total.deflated)]
            for d in report.distributions[:max_rows]]
    out += _md_table(["distribution", "version", "zipped", "unzipped", "share"], rows, {2, 3, 4})
    out.append("")
    rows = [[CATEGORY_LABELS[c], format_size(report.categories[c].deflated), format_size(report.categories[c].bytes)]
            for c in CATEGORIES if c in report.categories]
    out += _md_table(["category", "zipped", "unzipped"], rows, {1, 2})
    charts = mermaid_charts(report)
    if charts:
        out += ["", *charts]
    if report.baseline:
        b = report.baseline
        out += ["", f"**Change since baseline:** zip {format_size(b.zip_after - b.zip_before, signed=True)}, "
                    f"unzipped {format_size(b.totals.delta_bytes, signed=True)}.", ""]
        rows = [[c.name, format_size(c.delta_deflated, signed=True), format_size(c.delta_bytes, signed=True)]
                for c in b.distributions[:max_rows]]
        if rows:
            out += _md_table(["distribution", "zipped change", "unzipped change"], rows, {1, 2})
    out += ["", "<details><summary>Largest files</summary>", ""]
    rows = [[f"`{f.path}`", format_size(f.deflated), format_size(f.bytes), f.distribution] for f in report.largest]
    out += _md_table(["file", "zipped", "unzipped", "distribution"], rows, {1, 2})
    out += ["", "</details>"]
    return "\n".join(out) + "\n"


def append_step_summary(markdown: str, environ=None) -> Path | None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when it is set; returns
    the file written, or None."""
    target = (environ if environ is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path
