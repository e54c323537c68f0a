"""`fcslim resolve` end to end on tiny local wheels: atomic output, records,
refusals and exit codes (offline)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.pipeline import BuildOptions, build
from fcslim.core.errors import EXIT_INPUT, EXIT_OK, EXIT_RESOLUTION, NoCompatibleWheelError, OutputRefusedError
from fcslim.resolve.install import InstallOptions
from fcslim.target.profile import builtin_profiles, load_profile


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "requirements.txt").write_text("needs-backport\nstable\n")
    return tmp_path


def options(project: Path, links: Path, cache: Path, **kw) -> BuildOptions:
    # These tests are about the install stage and the atomic output: the later
    # stages (tested in their own files and in test_e2e_pipeline) are off
    # unless a test turns one on.
    for stage in ("fetch", "slim", "verify", "cache"):
        kw.setdefault(stage, False)
    return BuildOptions(
        requirements=kw.pop("requirements", project / "requirements.txt"),
        profile=kw.pop("profile", load_profile("fc-python3.10")),
        output=kw.pop("output", project / "build"),
        install=InstallOptions(no_index=True, find_links=(str(links),), cache_dir=cache),
        **kw,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_writes_tree_and_install_record(project, links, cache):
    result = build(options(project, links, cache))
    out = project / "build"
    assert result.output == out.resolve()
    assert (out / "needs_backport" / "__init__.py").is_file()
    record = json.loads((out / ".fcslim" / "install.json").read_text())
    assert record["schema"] == 1
    assert record["profile"]["name"] == "fc-python3.10"
    by_name = {d["name"]: d for d in record["distributions"]}
    assert set(by_name) == {"needs-backport", "alpha", "backport", "stable"}
    stable = by_name["stable"]
    assert stable["wheel"].startswith("stable-1.0-cp38-abi3-") and "cp38-abi3-manylinux_2_28_x86_64" in stable["tags"]
    assert "stable/__init__.py" in stable["files"]
    assert stable["size"] == sum((out / f).stat().st_size for f in stable["files"] if (out / f).is_file())
    assert record["requirements"]["requirements"] == ["needs-backport", "stable"]
    assert record["lock_sha256"] is None
    # nothing but the output appeared beside the requirements
    assert sorted(p.name for p in project.iterdir()) == ["build", "requirements.txt"]


def test_failure_leaves_the_previous_bundle_untouched(project, links, cache):
    build(options(project, links, cache))
    before = snapshot(project / "build")
    (project / "requirements.txt").write_text("needs-backport\nnewglibc==2.0\n")
    with pytest.raises(NoCompatibleWheelError):
        build(options(project, links, cache))
    assert snapshot(project / "build") == before
    assert sorted(p.name for p in project.iterdir()) == ["build", "requirements.txt"]


def test_refuses_outputs_that_hold_inputs_or_a_project(project, links, cache):
    with pytest.raises(OutputRefusedError, match="contains the input file"):
        build(options(project, links, cache, output=project))
    (project / "pyproject.toml").write_text("[project]\nname='x'\n")
    sub = project / "app"
    sub.mkdir()
    (sub / "pyproject.toml").write_text("")
    with pytest.raises(OutputRefusedError, match="looks like a project root"):
        build(options(project, links, cache, output=sub))


def test_lock_option_writes_lock_after_success_and_reuses_it(project, links, cache):
    lock_path = project / "requirements.lock"
    first = build(options(project, links, cache, lock=lock_path))
    assert lock_path.is_file() and not first.lock.reused
    assert first.install.hash_checked
    record = json.loads((project / "build" / ".fcslim" / "install.json").read_text())
    assert record["lock_sha256"] == first.lock.sha256
    stamp = lock_path.stat().st_mtime_ns
    second = build(options(project, links, cache, lock=lock_path))
    assert second.lock.reused and lock_path.stat().st_mtime_ns == stamp
    # a failing build does not touch the lock
    (project / "requirements.txt").write_text("newglibc==2.0\n")
    text = lock_path.read_text()
    with pytest.raises(NoCompatibleWheelError):
        build(options(project, links, cache, lock=lock_path))
    assert lock_path.read_text() == text


def cli(args, cwd: Path):
    from fcslim.cli import main

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_cli_resolve_lock_and_exit_codes(project, links, cache, monkeypatch):
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    base = ["--no-index", "--find-links", str(links)]
    ok = cli(["resolve", "requirements.txt", "--runtime", "fc-python3.10", "--output", "build", *base], project)
    assert ok.exit_code == EXIT_OK, ok.output
    assert "4 distributions for fc-python3.10" in ok.output

    (project / "requirements.in").write_text("needs-backport\n")
    locked = cli(["lock", "requirements.in", "--runtime", "fc-python3.10", "-o", "r.lock", *base], project)
    assert locked.exit_code == EXIT_OK, locked.output
    from_lock = cli(["resolve", "r.lock", "-r", "fc-python3.10", "-o", "build", "--json", *base], project)
    assert from_lock.exit_code == EXIT_OK
    summary = json.loads(from_lock.stdout)
    assert summary["schema"] == "fcslim.build/1"
    assert summary["install"]["requirements"]["hash_checked"] is True

    (project / "bad.txt").write_text("alpha\nnot valid !!\n")
    bad = cli(["resolve", "bad.txt", "-R", "fc-python3.10", "-o", "build", *base], project)
    assert bad.exit_code == EXIT_INPUT and "bad.txt:2" in bad.output

    unknown = cli(["resolve", "requirements.txt", "-r", "fc-python3.01", "-o", "build", *base], project)
    assert unknown.exit_code == EXIT_INPUT
    assert all(name in unknown.output for name in builtin_profiles())

    (project / "glibc.txt").write_text("newglibc==2.0\n")
    nowheel = cli(["resolve", "glibc.txt", "-R", "fc-python3.10", "-o", "build", *base], project)
    assert nowheel.exit_code == EXIT_RESOLUTION and "manylinux_2_34" in nowheel.output
    assert "Traceback" not in nowheel.output


def test_cli_user_profile_file(project, links, cache, monkeypatch):
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    raw = builtin_profiles()["aws-python3.12"].to_dict()
    (project / "my-runtime.json").write_text(json.dumps(raw))
    (project / "requirements.txt").write_text("newglibc\n")
    res = cli(["resolve", "requirements.txt", "--runtime", "./my-runtime.json", "-o", "build",
               "--no-index", "-f", str(links)], project)
    assert res.exit_code == EXIT_OK, res.output
    assert "newglibc==2.0" in res.output
