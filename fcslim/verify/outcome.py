"""What an import check found: each module's result, and the check's."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModuleCheck:
    name: str
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict:
        d = {"ok": self.ok}
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class VerifyResult:
    """The outcome of one import check.

    ``checked`` is False when no suitable place to import existed; ``reason``
    then says why.  ``where`` names the root or interpreter used; ``scope`` is
    "target-root" (Python and system libraries of the target) or
    "host-python" (the target's Python version, the host's libraries).
    """

    checked: bool
    where: str = ""
    scope: str = ""
    reason: str | None = None
    python: str | None = None
    modules: dict[str, ModuleCheck] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)  # files the imports opened (traced checks only)

    @property
    def failed(self) -> list[str]:
        return sorted(n for n, m in self.modules.items() if not m.ok)

    @property
    def passed(self) -> list[str]:
        return sorted(n for n, m in self.modules.items() if m.ok)

    @property
    def ok(self) -> bool:
        return self.checked and not self.failed

    def to_dict(self) -> dict:
        return {
            "checked": self.checked,
            "where": self.where,
            "scope": self.scope,
            "reason": self.reason,
            "python": self.python,
            "modules": {n: m.to_dict() for n, m in sorted(self.modules.items())},
            "failed": self.failed,
        }
