"""The end-to-end tests' shared step: `fcslim resolve` of a requirements text
for a runtime, beside a check script to run in the clean root."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fcslim.cli import main


def resolve_with_check(work: Path, requirements: str, check: str,
                       runtime: str = "debian11-python3.9") -> tuple[Path, Path]:
    """Build ``requirements`` for ``runtime`` into ``work/build`` (the whole
    default pipeline, quietly) and write ``check`` to ``work/check/check.py``;
    (the bundle, the check directory)."""
    (work / "requirements.txt").write_text(requirements)
    (work / "check").mkdir()
    (work / "check" / "check.py").write_text(check)
    result = CliRunner().invoke(main, ["resolve", str(work / "requirements.txt"), "--runtime", runtime,
                                       "--output", str(work / "build"), "-q"])
    assert result.exit_code == 0, result.output
    return work / "build", work / "check"
