"""`fcslim scan` on a tree with files and directories it cannot read (mode
000, scanned by a user the modes apply to): they are listed, counted, and the
scan exits 11, never "OK: everything can load" (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fcslim.core.errors import EXIT_ENVIRONMENT, EXIT_LOAD, EXIT_OK
from tests.support.elffiles import build_shared_library
from tests.support.mounts import dac_unavailable, without_dac_override


@pytest.fixture
def tree(tmp_path, gcc) -> Path:
    root = tmp_path / "site"
    build_shared_library(root / "pkg" / "_ok.so")
    build_shared_library(root / "pkg" / "_secret.so").chmod(0o000)
    (root / "closed").mkdir()
    build_shared_library(root / "closed" / "_inside.so")
    (root / "closed").chmod(0o000)
    yield root
    (root / "closed").chmod(0o755)


def scan(*args: str) -> subprocess.CompletedProcess:
    reason = dac_unavailable()
    if reason:
        pytest.skip(reason)
    argv = [sys.executable, "-m", "fcslim", "scan", *args, "--runtime", "fc-python3.10"]
    return subprocess.run(without_dac_override(argv), capture_output=True, text=True,
                          env=dict(os.environ, FCSLIM_CACHE_DIR=os.environ.get("FCSLIM_CACHE_DIR", "/tmp")))


def test_unreadable_files_and_directories_are_reported_and_exit_11(tree):
    proc = scan(str(tree))
    assert proc.returncode == EXIT_ENVIRONMENT, proc.stdout + proc.stderr
    assert "OK: everything can load" not in proc.stdout
    assert "could not be read" in proc.stdout
    assert "pkg/_secret.so  cannot be read (Permission denied)" in proc.stdout
    assert "closed  cannot be read (Permission denied)" in proc.stdout
    assert "1 ELF files" in proc.stdout and "2 unreadable" in proc.stdout
    assert "2 file(s) under" in proc.stderr and "chmod a+r" in proc.stderr

    as_json = scan(str(tree), "--json")
    assert as_json.returncode == EXIT_ENVIRONMENT
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["summary"]["unreadable"] == 2
    assert {(p["path"], p["kind"]) for p in report["unloadable"]} == {
        ("pkg/_secret.so", "unreadable"), ("closed", "unreadable")}


def test_a_real_load_problem_still_exits_6_and_a_readable_tree_0(tree, gcc):
    build_shared_library(tree / "pkg" / "_needy.so", needed=["libabsent.so.2"])
    assert scan(str(tree)).returncode == EXIT_LOAD
    (tree / "pkg" / "_secret.so").chmod(0o644)
    (tree / "closed").chmod(0o755)
    (tree / "pkg" / "_needy.so").unlink()
    proc = scan(str(tree))
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert "OK: everything can load" in proc.stdout
