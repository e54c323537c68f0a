"""Trace-guided pruning: remove what the user's own smoke run never touched.

:func:`smoke_and_prune` runs the smoke script traced
(:mod:`fcslim.verify.smoke`), reports what it never opened
(:mod:`fcslim.report.trace`) and, when asked, removes

* every wheel distribution the run never touched (``prune_untraced``), whole:
  its files, its ``*.libs`` and its dist-info;
* with ``prune_files`` as well, every untouched file of the distributions it
  did touch, and untouched files the bundle added (fetched libraries, data);

licence files and dist-info metadata of kept distributions are never removed.
The removed files are set aside first; the smoke then runs again on the
pruned bundle, and if it fails everything is put back and the build fails
(exit 8) with the smoke's output.  ``.fcslim/smoke.json`` records the runs
and the trace report; ``.fcslim/prune.json`` lists every distribution and
file pruned, with bytes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from fcslim.core.errors import VerifyError
from fcslim.core.files import atomic_write, move
from fcslim.report.measure import SizeReport, build_report
from fcslim.report.trace import TraceReport, never_prune, trace_report
from fcslim.verify.smoke import SmokeResult, run_smoke

RECORDS_DIR = ".fcslim"
SMOKE_RECORD = "smoke.json"
PRUNE_RECORD = "prune.json"
_BACKUP = "prune-backup"


@dataclass
class PruneResult:
    distributions: list[dict] = field(default_factory=list)  # {name, files, bytes}
    files: list[dict] = field(default_factory=list)  # {path, bytes, distribution}

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in self.files)

    def to_dict(self) -> dict:
        return {"schema": 1, "bytes": self.bytes, "distributions": self.distributions, "files": self.files}


@dataclass
class SmokeOutcome:
    first: SmokeResult
    trace: TraceReport | None
    pruned: PruneResult | None = None
    after: SmokeResult | None = None

    def to_dict(self) -> dict:
        return {"schema": 1, "smoke": self.first.to_dict(),
                "trace": self.trace.to_dict() if self.trace is not None else None,
                "pruned_bytes": self.pruned.bytes if self.pruned is not None else 0,
                "after_pruning": self.after.to_dict() if self.after is not None else None}


def prune_targets(report: SizeReport, trace: TraceReport, *, files: bool = False) -> PruneResult:
    """What pruning would remove (nothing is touched here)."""
    never = {d.name for d in trace.never_touched}
    untouched = {f.path for f in trace.untouched_files}
    out = PruneResult()
    per_dist: dict[str, dict] = {}
    for f in report.files:
        if f.distribution in never:
            chosen = True
        elif files:
            chosen = f.path in untouched and not never_prune(f.path)
        else:
            chosen = False
        if chosen:
            out.files.append({"path": f.path, "bytes": f.bytes, "distribution": f.distribution})
            if f.distribution in never:
                d = per_dist.setdefault(f.distribution, {"name": f.distribution, "files": 0, "bytes": 0})
                d["files"] += 1
                d["bytes"] += f.bytes
    out.distributions = sorted(per_dist.values(), key=lambda d: (-d["bytes"], d["name"].lower()))
    return out


def _set_aside(root: Path, paths: list[str]) -> Path:
    backup = root / RECORDS_DIR / _BACKUP
    shutil.rmtree(backup, ignore_errors=True)
    for rel in paths:
        target = backup / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        move(root / rel, target)
    for rel in sorted({os.path.dirname(p) for p in paths}, key=len, reverse=True):
        directory = root / rel
        while rel and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            rel = os.path.dirname(rel)
            directory = root / rel
    return backup


def _put_back(root: Path, backup: Path, paths: list[str]) -> None:
    for rel in paths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        move(backup / rel, root / rel)
    shutil.rmtree(backup, ignore_errors=True)


def _write(root: Path, name: str, data: dict) -> None:
    atomic_write(root / RECORDS_DIR / name, json.dumps(data, indent=2) + "\n", role="smoke record", durable=False)


def smoke_and_prune(root: Path, profile, script: Path, *, prune_untraced: bool = False, prune_files: bool = False,
                    python: str | None = None) -> SmokeOutcome:
    """Run the smoke traced on bundle ``root``; prune what it never touched
    when asked, and prove the pruned bundle with a second run."""
    root = Path(root)
    first = run_smoke(root, profile, script, python=python)
    if not first.ok:
        raise VerifyError(f"The smoke script {script} failed on the bundle ({first.where or 'not run'}, exit "
                          f"{first.returncode}): {first.tail()}",
                          "Fix the script or the requirements; the bundle was not swapped in.")
    outcome = SmokeOutcome(first, None)
    if first.traced:
        report = build_report(root, profile)
        outcome.trace = trace_report(report, first.opened)
    elif prune_untraced or prune_files:
        raise VerifyError(f"--prune-untraced needs a traced smoke run, and this one was not traced: "
                          f"{first.trace_reason}.", "Install strace and run as root, or leave out --prune-untraced.")
    if (prune_untraced or prune_files) and outcome.trace is not None:
        targets = prune_targets(report, outcome.trace, files=prune_files)
        paths = [f["path"] for f in targets.files]
        if paths:
            backup = _set_aside(root, paths)
            after = run_smoke(root, profile, script, python=python, trace=False)
            if not after.ok:
                _put_back(root, backup, paths)
                raise VerifyError(f"Pruning {len(paths)} files the smoke never opened broke it (exit "
                                  f"{after.returncode}): {after.tail()}",
                                  "Nothing was pruned; prune distributions only (leave out --prune-files), or "
                                  "make the smoke exercise what the function really does.")
            shutil.rmtree(backup, ignore_errors=True)
            outcome.pruned, outcome.after = targets, after
            _write(root, PRUNE_RECORD, {**targets.to_dict(), "script": str(script)})
    _write(root, SMOKE_RECORD, outcome.to_dict())
    return outcome
