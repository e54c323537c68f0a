"""`fcslim scan DIR`: text and JSON output, exit codes (offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_INPUT, EXIT_LOAD
from tests.support.elffiles import VersionRequirement, build_shared_library


@pytest.fixture(scope="module")
def good_tree(tmp_path_factory, gcc) -> Path:
    root = tmp_path_factory.mktemp("good")
    dep = build_shared_library(root / "pkg.libs" / "libdep-9f.so.1", soname="libdep-9f.so.1")
    build_shared_library(root / "pkg" / "_ext.so", link=[dep], runpath=["$ORIGIN/../pkg.libs"])
    return root


@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory, good_tree) -> Path:
    root = tmp_path_factory.mktemp("bad")
    shutil.copytree(good_tree, root, dirs_exist_ok=True)
    build_shared_library(root / "pkg" / "_needy.so", needed=["libabsent.so.2"])
    build_shared_library(root / "pkg" / "_new.so",
                         version_requirement=VersionRequirement("libc.so.6", "GLIBC_2.99"))
    return root


def run(*args):
    return CliRunner().invoke(main, ["scan", *map(str, args)])


def test_scan_ok_tree_exits_zero(good_tree):
    result = run(good_tree, "--runtime", "fc-python3.10")
    assert result.exit_code == 0, result.output
    assert "OK: everything can load" in result.output
    assert "2 ELF files" in result.output


def test_scan_reports_missing_and_unloadable_and_exits_6(bad_tree):
    result = run(bad_tree, "-R", "fc-python3.10")
    assert result.exit_code == EXIT_LOAD
    assert "libabsent.so.2  needed by pkg/_needy.so" in result.output
    assert "pkg/_new.so  [glibc-too-new]" in result.output and "GLIBC_2.99" in result.output
    assert "cannot load on fc-python3.10" in result.output  # the error paragraph


def test_scan_json_is_versioned_and_complete(bad_tree):
    result = run(bad_tree, "-R", "fc-python3.10", "--json")
    assert result.exit_code == EXIT_LOAD
    data = json.loads(result.stdout)
    assert data["schema"] == 1 and data["ok"] is False and data["runtime"] == "fc-python3.10"
    assert data["missing"] == [{"soname": "libabsent.so.2", "needed_by": ["pkg/_needy.so"]}]
    assert [(u["path"], u["kind"]) for u in data["unloadable"]] == [("pkg/_new.so", "glibc-too-new")]
    assert data["summary"]["elf_files"] == 4
    assert data["load_order"] == ["pkg.libs/libdep-9f.so.1"]
    assert {f["path"] for f in data["files"]} >= {"pkg/_ext.so", "pkg/_new.so"}


def test_scan_bad_arguments(tmp_path):
    assert run(tmp_path / "nope").exit_code == EXIT_INPUT
    result = run(tmp_path, "-R", "no-such-runtime")
    assert result.exit_code == EXIT_INPUT and "Unknown runtime" in result.output
