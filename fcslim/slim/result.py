"""What a slim run did, and its record ``.fcslim/slim.json`` (schema 1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fcslim.core.files import atomic_write
from fcslim.core.output import refresh_owner_record
from fcslim.slim.plan import SCHEMA, PlannedRule, SlimPlan
from fcslim.slim.tree import RECORD_DIR
from fcslim.verify import imports as verify_mod
from fcslim.verify.bytecode import CompileResult


@dataclass
class RolledBack:
    """Files of a rule that were put back because removing them broke imports."""

    rule: str
    files: list[str]
    bytes: int
    modules: list[str]
    errors: dict[str, str]

    def to_dict(self) -> dict:
        return {"rule": self.rule, "files": self.files, "bytes": self.bytes,
                "modules": self.modules, "errors": self.errors}


@dataclass
class SlimResult:
    plan: SlimPlan
    applied: bool
    before_bytes: int
    after_bytes: int
    rules: list[PlannedRule] = field(default_factory=list)  # what was actually done
    rolled_back: list[RolledBack] = field(default_factory=list)
    baseline: verify_mod.VerifyResult | None = None
    verified: verify_mod.VerifyResult | None = None
    compiled: CompileResult | None = None
    notes: list[str] = field(default_factory=list)
    verification_runs: int = 0

    @property
    def saved_bytes(self) -> int:
        return self.before_bytes - self.after_bytes

    def record(self) -> dict:
        """The ``.fcslim/slim.json`` document (contract schema 1)."""
        def vdict(v):
            return v.to_dict() if v is not None else {"checked": False, "reason": "verification was turned off"}
        return {
            "schema": SCHEMA,
            "before_bytes": self.before_bytes,
            "after_bytes": self.after_bytes,
            "rules": [r.to_dict() for r in self.rules],
            "rolled_back": [r.to_dict() for r in self.rolled_back],
            "verified": {"baseline": vdict(self.baseline), "after": vdict(self.verified),
                         "runs": self.verification_runs,
                         "checked": bool(self.verified and self.verified.checked),
                         "where": self.verified.where if self.verified else "",
                         "reason": (self.verified.reason if self.verified else "verification was turned off")},
            "compiled": self.compiled.to_dict() if self.compiled else {"compiled": False, "reason": "not requested"},
            "user_rules": self.plan.user,
            "kept_by": self.plan.kept,
            "notes": self.notes,
        }


def write_record(root: Path, result: SlimResult) -> Path:
    path = atomic_write(Path(root) / RECORD_DIR / "slim.json",
                        json.dumps(result.record(), indent=1, sort_keys=False) + "\n", role="slim record", durable=False)
    refresh_owner_record(root)
    return path
