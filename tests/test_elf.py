"""fcslim.elf.facts on tiny ELF files compiled by the test itself (offline)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fcslim.elf.facts import ElfFile, is_elf, read_elf, scan_tree
from tests.support.elffiles import (
    VersionRequirement,
    build_executable,
    build_shared_library,
    set_machine,
    truncate,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory, gcc) -> Path:
    root = tmp_path_factory.mktemp("elftree")
    dep = build_shared_library(
        root / "pkg.libs" / "libdep-1a2b.so.1",
        "int dep(void) { return 1; }\n",
        soname="libdep-1a2b.so.1",
        define_versions=["DEP_1.0", "DEP_2.0"],
    )
    build_shared_library(
        root / "pkg" / "_ext.so",
        "int dep(void); int f(void) { return dep(); }\n",
        link=[dep],
        needed=["libmissing.so.3"],
        runpath=["$ORIGIN/../pkg.libs", "$ORIGIN"],
    )
    build_executable(root / "bin" / "tool", rpath=["$ORIGIN/../lib"])
    build_shared_library(root / "new.so", version_requirement=VersionRequirement("libc.so.6", "GLIBC_2.99"))
    set_machine(build_shared_library(root / "arm.so"), "AARCH64")
    truncate(build_shared_library(root / "cut.so"), 0.4)
    os.symlink("libdep-1a2b.so.1", root / "pkg.libs" / "libdep.so")
    # Not ELF, whatever the name says; and ELF whatever the name says.
    (root / "fake.so").write_text("INPUT(-lc)\n")
    (root / "pkg" / "data.bin").write_bytes((root / "pkg.libs" / "libdep-1a2b.so.1").read_bytes())
    (root / ".fcslim").mkdir()
    (root / ".fcslim" / "copy.so").write_bytes((root / "new.so").read_bytes())
    return root


def by_path(files: list[ElfFile]) -> dict[str, ElfFile]:
    return {f.path: f for f in files}


def test_is_elf_uses_magic_not_name(tree):
    assert is_elf(tree / "pkg" / "data.bin")
    assert not is_elf(tree / "fake.so")
    assert not is_elf(tree / "does-not-exist.so")


def test_scan_tree_finds_elf_by_magic_and_skips_symlinks_and_records(tree):
    paths = [f.path for f in scan_tree(tree)]
    assert paths == sorted(paths)
    assert "pkg/data.bin" in paths
    assert "fake.so" not in paths
    assert "pkg.libs/libdep.so" not in paths  # symlink: its target is scanned once
    assert "pkg.libs/libdep-1a2b.so.1" in paths
    assert not any(p.startswith(".fcslim/") for p in paths)


def test_dynamic_section_fields(tree):
    files = by_path(scan_tree(tree))
    ext = files["pkg/_ext.so"]
    assert ext.error is None
    assert ext.machine == "X86_64" and ext.elf_class == 64
    assert ext.soname is None
    assert ext.needed[:2] == ("libdep-1a2b.so.1", "libmissing.so.3")
    assert ext.runpath == ("$ORIGIN/../pkg.libs", "$ORIGIN")
    assert ext.rpath == ()
    assert ext.search_dirs == ext.runpath
    assert dict(ext.version_needs)["libdep-1a2b.so.1"] == ("DEP_2.0",)
    dep = files["pkg.libs/libdep-1a2b.so.1"]
    assert dep.soname == "libdep-1a2b.so.1"
    assert {"DEP_1.0", "DEP_2.0"} <= set(dep.version_defs)
    tool = files["bin/tool"]
    assert tool.rpath == ("$ORIGIN/../lib",) and tool.runpath == ()
    assert tool.search_dirs == ("$ORIGIN/../lib",)


def test_version_requirement_read(tree):
    new = read_elf(tree / "new.so", tree)
    assert new.path == "new.so"
    assert ("libc.so.6", "GLIBC_2.99") in set(new.required_versions())


def test_wrong_machine_is_reported_not_an_error(tree):
    arm = read_elf(tree / "arm.so", tree)
    assert arm.error is None
    assert arm.machine == "AARCH64"


def test_truncated_file_is_reported_and_scan_goes_on(tree):
    files = by_path(scan_tree(tree))
    cut = files["cut.so"]
    assert cut.error and "truncated" in cut.error
    assert cut.machine == "X86_64"  # the header itself survived
    assert files["new.so"].error is None


@pytest.mark.parametrize(
    "content, word",
    [
        (b"\x7fELF", "truncated"),
        (b"\x7fELF\x02\x01\x01" + bytes(200), "malformed"),
        (b"\x7fELF\x07\x01\x01" + bytes(200), "malformed"),
    ],
)
def test_malformed_headers(tmp_path, content, word):
    path = tmp_path / "bad.so"
    path.write_bytes(content)
    result = read_elf(path, tmp_path)
    assert result.error and word in result.error
    assert result.needed == ()


def test_to_dict_round_trips_the_facts(tree):
    ext = read_elf(tree / "pkg" / "_ext.so", tree)
    data = ext.to_dict()
    assert data["path"] == "pkg/_ext.so"
    assert data["needed"] == list(ext.needed)
    assert data["version_needs"]["libdep-1a2b.so.1"] == ["DEP_2.0"]
