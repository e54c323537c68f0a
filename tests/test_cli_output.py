"""What `fcslim resolve` prints in a CI log (stderr not a terminal): one plain
line per finished step with its time, no path of a staging directory, the
bundle-cache restore only on a hit, and a first line that times the install
alone."""

from __future__ import annotations

import re
import uuid

from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_OK


def resolve(tmp_path, links, name: str):
    args = ["resolve", "requirements.txt", "-R", "fc-python3.10", "-o", name, "--no-index", "-f", str(links),
            "--no-fetch", "--no-slim", "--no-verify", "--no-gate"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == EXIT_OK, result.output
    return result


def test_ci_log_lines(tmp_path, links, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a fresh input: its text is part of the bundle-cache key
    (tmp_path / "requirements.txt").write_text(f"# {uuid.uuid4()}\nneeds-backport\n")
    cold = resolve(tmp_path, links, "a")
    steps = [line.split(":")[0] for line in cold.stderr.splitlines() if re.match(r"^[a-z ]+: [0-9.]+ s$", line)]
    assert steps[:2] == ["bundle cache key", "install"] and "measure" in steps
    assert "restored" not in cold.stderr
    assert "==>" not in cold.stderr and "\r" not in cold.stderr and "\033" not in cold.stderr
    assert "staging" not in cold.stderr + cold.stdout and ".fcslim-" not in cold.stderr + cold.stdout
    first = cold.stdout.splitlines()[0]
    assert re.fullmatch(r"resolved and installed 3 distributions for fc-python3\.10 in [0-9.]+ s", first), first
    assert re.search(r"^bundle in .*; the whole build took [0-9.]+ s$", cold.stdout, re.M)

    warm = resolve(tmp_path, links, "b")
    assert re.search(r"^restored from the bundle cache: [0-9.]+ s$", warm.stderr, re.M)
    assert "install:" not in warm.stderr
    assert re.match(r"restored 3 distributions for fc-python3\.10 from the bundle cache in [0-9.]+ s",
                    warm.stdout.splitlines()[0])


def test_quiet_leaves_only_the_result(tmp_path, links, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.txt").write_text("needs-backport\n")
    result = CliRunner().invoke(main, ["resolve", "requirements.txt", "-o", "q", "--no-index", "-f", str(links),
                                       "--no-fetch", "--no-slim", "--no-verify", "--no-gate", "--no-cache", "-q"],
                                catch_exceptions=False)
    assert result.exit_code == EXIT_OK and result.stderr == ""
    assert result.stdout.startswith("resolved and installed 3 distributions")
