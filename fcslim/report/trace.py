"""What a traced smoke run never touched: distributions and files, with bytes.

A file counts as touched when the run opened it, or opened its module
partner (``pkg/mod.py`` and ``pkg/__pycache__/mod.cpython-39.pyc`` are one
module).  A distribution is touched when any of its files is, its dist-info
included (``importlib.metadata.version("x")`` opens METADATA).  The files the
bundle itself added (fetched libraries, data files, hooks) are listed per
file.  Licence files are never candidates for pruning.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterable

from fcslim.report.measure import FileSize, SizeReport

_PYC = re.compile(r"^(?P<dir>.*?)(?:/)?__pycache__/(?P<stem>[^/.]+)\.[^/]+\.pyc$")
_LICENCE = re.compile(r"(^|/)(licen[cs]es?|copying|notice|authors)([./_-][^/]*)?$", re.IGNORECASE)


def module_key(path: str) -> str:
    """``a/__pycache__/m.cpython-39.pyc`` and ``a/m.py`` → ``a/m``; other files are themselves."""
    pyc = _PYC.match(path)
    if pyc:
        return posixpath.join(pyc.group("dir"), pyc.group("stem"))
    if path.endswith(".py"):
        return path[:-3]
    return path


def never_prune(path: str) -> bool:
    """Licences and copyright files, dist-info metadata: kept whatever the trace says."""
    top = path.split("/", 1)[0]
    return (top.endswith(".dist-info") or top.endswith(".egg-info") or path.startswith("lib/licenses/")
            or bool(_LICENCE.search(path)))


@dataclass
class DistributionTrace:
    name: str
    kind: str  # "wheel" | "debian" | "fcslim" | "unowned"
    files: int = 0
    bytes: int = 0
    touched_files: int = 0
    touched_bytes: int = 0

    @property
    def untouched_bytes(self) -> int:
        return self.bytes - self.touched_bytes

    @property
    def never_touched(self) -> bool:
        return self.touched_files == 0

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "files": self.files, "bytes": self.bytes,
                "touched_files": self.touched_files, "touched_bytes": self.touched_bytes,
                "untouched_bytes": self.untouched_bytes}


@dataclass
class TraceReport:
    opened: int  # bundle files the run opened
    distributions: list[DistributionTrace]
    untouched_files: list[FileSize] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(d.bytes for d in self.distributions)

    @property
    def untouched_bytes(self) -> int:
        return sum(f.bytes for f in self.untouched_files)

    @property
    def never_touched(self) -> list[DistributionTrace]:
        """Wheel distributions the run never touched, heaviest first."""
        return [d for d in self.distributions if d.kind == "wheel" and d.never_touched]

    def to_dict(self, top: int = 50) -> dict:
        return {"opened_files": self.opened, "total_bytes": self.total_bytes,
                "untouched_bytes": self.untouched_bytes,
                "never_touched_distributions": [d.to_dict() for d in self.never_touched],
                "distributions": [d.to_dict() for d in self.distributions],
                "untouched_files": [{"path": f.path, "bytes": f.bytes, "distribution": f.distribution}
                                    for f in self.untouched_files[:top]]}


def trace_report(report: SizeReport, opened: Iterable[str]) -> TraceReport:
    """Touched and untouched bytes of ``report``'s bundle, given the
    bundle-relative paths a run ``opened``."""
    opened = set(opened)
    touched_modules = {module_key(p) for p in opened}
    kinds = {d.name: d.kind for d in report.distributions}
    dists: dict[str, DistributionTrace] = {}
    untouched: list[FileSize] = []
    for f in report.files:
        dist = dists.setdefault(f.distribution, DistributionTrace(f.distribution, kinds.get(f.distribution, "unowned")))
        dist.files += 1
        dist.bytes += f.bytes
        if f.path in opened or module_key(f.path) in touched_modules:
            dist.touched_files += 1
            dist.touched_bytes += f.bytes
        else:
            untouched.append(f)
    untouched.sort(key=lambda f: (-f.bytes, f.path))
    ordered = sorted(dists.values(), key=lambda d: (-d.untouched_bytes, d.name.lower()))
    return TraceReport(len(opened), ordered, untouched)
