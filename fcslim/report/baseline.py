"""Comparing a report with an earlier one: what grew, what shrank."""

from __future__ import annotations

from fcslim.report.model import Change, Comparison, SizeReport


def _changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[Change]:
    rows = []
    for name in set(before) | set(after):
        b = before.get(name, (0, 0))
        a = after.get(name, (0, 0))
        if a != b:
            rows.append(Change(name, b[0], a[0], b[1], a[1]))
    rows.sort(key=lambda c: (-c.delta_deflated, -c.delta_bytes, c.name))
    return rows


def compare(baseline: dict, report: SizeReport) -> Comparison:
    """What changed between ``baseline`` (report JSON) and ``report``."""
    now = report.to_dict(include_files=True)
    dists_b = {d["name"]: (d["bytes"], d["deflated"]) for d in baseline.get("distributions", [])}
    dists_a = {d["name"]: (d["bytes"], d["deflated"]) for d in now["distributions"]}
    cats_b = {c: (t["bytes"], t["deflated"]) for c, t in (baseline.get("categories") or {}).items()}
    cats_a = {c: (t["bytes"], t["deflated"]) for c, t in now["categories"].items()}
    files = None
    if baseline.get("files") is not None:
        files = _changes({f["path"]: (f["bytes"], f["deflated"]) for f in baseline["files"]},
                         {f["path"]: (f["bytes"], f["deflated"]) for f in now["files"]})
    tb, ta = baseline.get("totals", {}), now["totals"]
    return Comparison(
        source=str(baseline.get("root")),
        totals=Change("total", tb.get("bytes", 0), ta["bytes"], tb.get("deflated", 0), ta["deflated"]),
        zip_before=tb.get("zip_bytes", 0),
        zip_after=ta["zip_bytes"],
        distributions=_changes(dists_b, dists_a),
        categories=_changes(cats_b, cats_a),
        files=files,
    )
