"""The size report as plain data: per file, distribution, category and
library, slim before/after, a baseline comparison, and its JSON form
(``docs/report-schema.json``)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path

from fcslim.pack.deflate import LEVEL as COMPRESS_LEVEL
from fcslim.pack.tree import SkippedLink
from fcslim.pack.deflate import codec
from fcslim.report.limits import LimitCheck
from fcslim.target.profile import Profile

SCHEMA = "fcslim.report/1"
CATEGORIES = ("python", "extensions", "libraries", "data", "metadata")
CATEGORY_LABELS = {
    "python": "Python code",
    "extensions": "extension modules",
    "libraries": "system libraries (fetched)",
    "data": "data",
    "metadata": "metadata",
}


@dataclass(frozen=True)
class FileSize:
    path: str
    bytes: int
    deflated: int
    distribution: str
    category: str

    def to_dict(self) -> dict:
        return {"path": self.path, "bytes": self.bytes, "deflated": self.deflated,
                "distribution": self.distribution, "category": self.category}


@dataclass
class Totals:
    files: int = 0
    bytes: int = 0
    deflated: int = 0

    def add(self, f: FileSize) -> None:
        self.files += 1
        self.bytes += f.bytes
        self.deflated += f.deflated

    def to_dict(self) -> dict:
        return {"files": self.files, "bytes": self.bytes, "deflated": self.deflated}


@dataclass
class DistributionSize:
    name: str
    version: str | None
    kind: str  # "wheel" | "debian" | "fcslim" (hooks fetch wrote) | "unowned"
    files: int = 0
    bytes: int = 0
    deflated: int = 0
    categories: dict[str, Totals] = field(default_factory=dict)

    def add(self, f: FileSize) -> None:
        self.files += 1
        self.bytes += f.bytes
        self.deflated += f.deflated
        self.categories.setdefault(f.category, Totals()).add(f)

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "kind": self.kind, "files": self.files,
                "bytes": self.bytes, "deflated": self.deflated,
                "categories": {c: self.categories[c].to_dict() for c in CATEGORIES if c in self.categories}}


@dataclass(frozen=True)
class LibrarySize:
    soname: str | None
    path: str
    package: str | None
    version: str | None
    bytes: int
    deflated: int

    def to_dict(self) -> dict:
        return {"soname": self.soname, "path": self.path, "package": self.package, "version": self.version,
                "bytes": self.bytes, "deflated": self.deflated}


@dataclass(frozen=True)
class SlimSummary:
    before_bytes: int
    after_bytes: int
    rules: tuple[dict, ...] = ()

    @property
    def saved_bytes(self) -> int:
        return self.before_bytes - self.after_bytes

    def to_dict(self) -> dict:
        return {"before_bytes": self.before_bytes, "after_bytes": self.after_bytes,
                "saved_bytes": self.saved_bytes, "rules": list(self.rules)}


@dataclass(frozen=True)
class Change:
    """One row of a baseline comparison."""

    name: str
    before_bytes: int
    after_bytes: int
    before_deflated: int
    after_deflated: int

    @property
    def delta_bytes(self) -> int:
        return self.after_bytes - self.before_bytes

    @property
    def delta_deflated(self) -> int:
        return self.after_deflated - self.before_deflated

    def to_dict(self) -> dict:
        return {"name": self.name, "before_bytes": self.before_bytes, "after_bytes": self.after_bytes,
                "delta_bytes": self.delta_bytes, "before_deflated": self.before_deflated,
                "after_deflated": self.after_deflated, "delta_deflated": self.delta_deflated}


@dataclass
class Comparison:
    """What changed since a baseline report: only rows that changed, biggest
    zipped growth first."""

    source: str
    totals: Change
    zip_before: int
    zip_after: int
    distributions: list[Change]
    categories: list[Change]
    files: list[Change] | None  # None when the baseline has no per-file sizes

    @property
    def grown(self) -> list[Change]:
        return [c for c in self.distributions if c.delta_deflated > 0 or c.delta_bytes > 0]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "totals": self.totals.to_dict(),
            "zip_bytes": {"before": self.zip_before, "after": self.zip_after, "delta": self.zip_after - self.zip_before},
            "distributions": [c.to_dict() for c in self.distributions],
            "categories": [c.to_dict() for c in self.categories],
            "files": None if self.files is None else [c.to_dict() for c in self.files],
        }


@dataclass
class SizeReport:
    root: Path
    profile: Profile | None
    layout: str
    files: list[FileSize]
    totals: Totals
    zip_bytes: int
    categories: dict[str, Totals]
    distributions: list[DistributionSize]
    libraries: list[LibrarySize]
    slim: SlimSummary | None
    limits: list[LimitCheck]
    skipped_links: list[SkippedLink] = field(default_factory=list)
    baseline: Comparison | None = None
    top: int = 20

    @property
    def largest(self) -> list[FileSize]:
        return heapq.nsmallest(self.top, self.files, key=lambda f: (-f.deflated, f.path))  # = sorted()[:top]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.limits if c.gating)

    def to_dict(self, include_files: bool = False) -> dict:
        """The versioned JSON form, documented by docs/report-schema.json."""
        profile = self.profile
        return {
            "schema": SCHEMA,
            "root": str(self.root),
            "runtime": getattr(profile, "name", None),
            "layout": self.layout,
            "compress_level": COMPRESS_LEVEL,
            "codec": codec(),
            "totals": {**self.totals.to_dict(), "zip_bytes": self.zip_bytes},
            "categories": {c: self.categories.get(c, Totals()).to_dict() for c in CATEGORIES},
            "distributions": [d.to_dict() for d in self.distributions],
            "largest": [f.to_dict() for f in self.largest],
            "libraries": [lib.to_dict() for lib in self.libraries],
            "slim": self.slim.to_dict() if self.slim else None,
            "limits": [c.to_dict() for c in self.limits],
            "ok": self.ok,
            "skipped_links": [{"path": s.path, "target": s.target, "reason": s.reason} for s in self.skipped_links],
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "files": [f.to_dict() for f in self.files] if include_files else None,
        }
