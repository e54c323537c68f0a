"""Lighter equivalents and dead weight, from ``data/lighter_equivalents.json``.

For each installed distribution the table names, say what the lighter
equivalent is and about how many zipped bytes it would save: the installed
distribution's deflated bytes (measured) minus the size of the equivalent's
wheel the target would install (same version when published, from the
index's PEP 700 file sizes; one request per match, skipped offline).  For
GPU-only distributions on a CPU runtime, the bytes are exact: what
``--drop NAME`` removes, proven by the import check.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from functools import lru_cache

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from fcslim.core.resources import data_path
from fcslim.report.limits import format_size
from fcslim.report.measure import SizeReport
from fcslim.resolve.options import Sources

PYPI = Sources(None, (), (), False)


@dataclass(frozen=True)
class Advice:
    distribution: str
    version: str | None
    kind: str  # "lighter" | "gpu-only"
    replacement: str | None  # the lighter distribution; None for gpu-only
    why: str
    bytes: int  # installed, unzipped
    deflated: int  # installed, zipped
    saved_deflated: int | None  # zipped bytes saved; None when unknown (offline)
    exact: bool  # gpu-only: the drop saves exactly this much

    def line(self) -> str:
        if self.kind == "gpu-only":
            return (f"{self.distribution} ({format_size(self.bytes)}, {format_size(self.deflated)} zipped) is "
                    f"GPU-only: {self.why}; `--drop {self.distribution}` removes it")
        saved = (f"saves about {format_size(self.saved_deflated)} zipped" if self.saved_deflated is not None
                 else "size unknown (index not reachable)")
        return f"{self.replacement} instead of {self.distribution}: {self.why} ({saved})"

    def to_dict(self) -> dict:
        return {"distribution": self.distribution, "version": self.version, "kind": self.kind,
                "replacement": self.replacement, "why": self.why, "bytes": self.bytes, "deflated": self.deflated,
                "saved_deflated": self.saved_deflated, "exact": self.exact}


@lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads(data_path("lighter_equivalents.json").read_text())


def wheel_size(project: str, version: str | None, profile, sources: Sources = PYPI) -> int | None:
    """The size of the wheel of ``project`` the target would take (``version``
    when published, else the newest), from the index; None when unknown."""
    from fcslim.resolve.index import index_files  # the index client: only when a lighter equivalent is found

    try:
        files, _ = index_files(project, sources, timeout=10.0)
    except (OSError, ValueError):
        return None
    best: dict[Version, tuple[int, int]] = {}
    for f in files:
        if not f.is_wheel or f.yanked or f.size is None:
            continue
        try:
            _, ver, _, tags = parse_wheel_filename(f.filename)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        ranks = [r for r in (profile.tag_rank(t) for t in tags) if r is not None]
        if ranks and (ver not in best or min(ranks) < best[ver][0]):
            best[ver] = (min(ranks), f.size)
    if not best:
        return None
    try:
        wanted = Version(version) if version else None
    except InvalidVersion:
        wanted = None
    chosen = wanted if wanted in best else max(best)
    return best[chosen][1]


def lighter_advice(report: SizeReport, profile, *, sources: Sources | None = PYPI) -> list[Advice]:
    """Advice for ``report``'s bundle; ``sources=None`` skips size lookups."""
    table = _table()
    installed = {canonicalize_name(d.name): d for d in report.distributions if d.kind == "wheel"}
    out: list[Advice] = []
    for entry in table["equivalents"]:
        dist = installed.get(canonicalize_name(entry["distribution"]))
        if dist is None:
            continue
        marker = entry.get("unless_version_contains")
        if marker and marker in (dist.version or ""):
            continue
        lookup = entry.get("lookup", entry["lighter"])
        size = wheel_size(lookup, dist.version, profile, sources) if (sources is not None and lookup) else None
        saved = max(dist.deflated - size, 0) if size is not None else None
        out.append(Advice(dist.name, dist.version, "lighter", entry["lighter"], entry["why"], dist.bytes,
                          dist.deflated, saved, False))
    for entry in table["gpu_only"]:
        for key, dist in sorted(installed.items()):
            if fnmatch.fnmatch(key, entry["pattern"]):
                out.append(Advice(dist.name, dist.version, "gpu-only", None, entry["why"], dist.bytes, dist.deflated,
                                  dist.deflated, True))
    return out


def advice_lines(advice: list[Advice]) -> list[str]:
    return [a.line() for a in advice]
