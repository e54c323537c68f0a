"""Debian programs into bin/ (fcslim.fetch.executables), offline against the
signed test mirror: an explicit --system-package, a wrapper that brings its
program, the closure over the program's libraries, RUNPATH with $ORIGIN so the
program runs from anywhere with no LD_LIBRARY_PATH, PATH from the start-up
hook, and [tool.fcslim] system-packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from fcslim.debian.errors import NoPackageError
from fcslim.debian.signatures import Trust
from fcslim.elf.facts import read_elf
from fcslim.fetch.closure import fetch_missing
from fcslim.fetch.record import protected_paths
from fcslim.slim.rules import SlimRuleError, system_packages_from_config

from .support.elffiles import build_executable
from tests.support.debian_mirror import FakeMirror, library_members
from tests.support.fetch_world import MULTIARCH, built, key, private_cache, profile_for  # noqa: F401  (fixtures)
from tests.support.tools import require_tool


@pytest.fixture
def tool_mirror(tmp_path, key, built):
    program = build_executable(tmp_path / "footool", "int foo(void); int main(void){return foo() == 2 ? 0 : 1;}\n",
                               link=[built["foo"], built["bar"]])
    fake = FakeMirror(tmp_path / "mirror", key=key)
    fake.add("testrel", "libfoo1", "1.2.3-1", library_members(
        "libfoo1", f"{MULTIARCH}/libfoo.so.1.2.3", built["foo"].read_bytes(),
        {f"{MULTIARCH}/libfoo.so.1": "libfoo.so.1.2.3"}), source="foo")
    fake.add("testrel", "libbar2", "2.0-3", library_members(
        "libbar2", f"{MULTIARCH}/libbar.so.2", built["bar"].read_bytes(), {}), source="bar")
    fake.add("testrel", "ffmpeg", "7:4.3-1", library_members("ffmpeg", "usr/bin/ffmpeg", program.read_bytes(), {}),
             source="ffmpeg")
    fake.publish("testrel")
    fake.serve()
    yield fake
    fake.stop()


def _dist(bundle, name):
    info = bundle / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")


def test_wrapper_brings_its_program_which_runs_from_anywhere(tmp_path, tool_mirror, key):
    require_tool("patchelf", purpose="programs get a RUNPATH with it")
    bundle = tmp_path / "bundle"
    _dist(bundle, "pydub")
    result = fetch_missing(bundle, profile_for(tool_mirror.url), trust=Trust((key.keyring,)))
    assert [(e.path, e.requested_by) for e in result.executables] == [("bin/ffmpeg", "wrapper:pydub")]
    assert {f.soname for f in result.fetched} == {"libfoo.so.1", "libbar.so.2"}
    assert read_elf(bundle / "bin" / "ffmpeg").runpath[-1] == "$ORIGIN/../lib"
    assert read_elf(bundle / "lib" / "libfoo.so.1").runpath[-1] == "$ORIGIN"
    assert "bin/ffmpeg" in protected_paths(bundle)

    moved = tmp_path / "elsewhere"
    shutil.copytree(bundle, moved)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(moved)}
    code = "import os, shutil, subprocess; p = shutil.which('ffmpeg'); print(p); print(subprocess.call([p]))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(moved / "bin" / "ffmpeg"), "0"]

    none = fetch_missing(tmp_path / "other", profile_for(tool_mirror.url), trust=Trust((key.keyring,)),
                         auto_system_packages=False) if (tmp_path / "other").mkdir() is None else None
    assert none.executables == []


def test_explicit_system_package_and_unknown_name(tmp_path, tool_mirror, key):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    result = fetch_missing(bundle, profile_for(tool_mirror.url), trust=Trust((key.keyring,)), system_packages=("ffmpeg",))
    assert [e.requested_by for e in result.executables] == ["--system-package"]
    with pytest.raises(NoPackageError, match="no package nosuchtool"):
        fetch_missing(bundle, profile_for(tool_mirror.url), trust=Trust((key.keyring,)), system_packages=("nosuchtool",))


def test_system_packages_from_pyproject(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.fcslim]\nsystem-packages = ["ffmpeg", "poppler-utils"]\n')
    assert system_packages_from_config(pyproject) == ("ffmpeg", "poppler-utils")
    assert system_packages_from_config(search_dir=tmp_path / "nowhere") == ()
    pyproject.write_text('[tool.fcslim]\nsystem-packages = "ffmpeg"\n')
    with pytest.raises(SlimRuleError, match="system-packages"):
        system_packages_from_config(pyproject)


# -- programs that are links, scripts, and files made at install time -------------------


@pytest.fixture
def linked_tool_mirror(tmp_path, key, built):
    """graphviz's shape: /usr/bin/dot links to a program of a package it
    depends on, neato links to dot, one link leads nowhere, one program is a
    shell script."""
    program = build_executable(tmp_path / "helper", "int foo(void); int main(void){return foo() == 2 ? 0 : 1;}\n",
                               link=[built["foo"], built["bar"]])
    fake = FakeMirror(tmp_path / "mirror", key=key)
    fake.add("testrel", "libfoo1", "1.2.3-1", library_members(
        "libfoo1", f"{MULTIARCH}/libfoo.so.1", built["foo"].read_bytes(), {}), source="foo")
    fake.add("testrel", "libbar2", "2.0-3", library_members(
        "libbar2", f"{MULTIARCH}/libbar.so.2", built["bar"].read_bytes(), {}), source="bar")
    fake.add("testrel", "libhelper1", "1.0-1", library_members(
        "libhelper1", "usr/sbin/helper-config-update", program.read_bytes(), {}), source="helper")
    members = library_members("drawtool", "usr/bin/script", b"#!/bin/sh\necho script ran\n",
                              {"usr/bin/dot": "../sbin/helper-config-update", "usr/bin/neato": "dot",
                               "usr/bin/ghost": "../sbin/nowhere"})
    fake.add("testrel", "drawtool", "2.42-1", members, source="drawtool",
             depends="libc6 (>= 2.14), libmissing9 | libhelper1 (= 1.0-1)")
    fake.publish("testrel")
    fake.serve()
    yield fake
    fake.stop()


def test_programs_that_link_into_a_dependency_come_from_it(tmp_path, linked_tool_mirror, key):
    require_tool("patchelf", purpose="programs get a RUNPATH with it")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    result = fetch_missing(bundle, profile_for(linked_tool_mirror.url), trust=Trust((key.keyring,)),
                           system_packages=("drawtool",))
    programs = {e.name: e for e in result.executables}
    assert set(programs) == {"dot", "neato", "script"}
    assert programs["dot"].package == programs["neato"].package == "libhelper1"
    assert programs["dot"].member == "usr/bin/dot" and programs["script"].package == "drawtool"
    helper = linked_tool_mirror.suites["testrel"][2]
    assert (bundle / "bin" / "neato").read_bytes()[:4] == b"\x7fELF"
    assert read_elf(bundle / "bin" / "dot").runpath[-1] == "$ORIGIN/../lib"
    assert (bundle / "bin" / "script").read_bytes() == b"#!/bin/sh\necho script ran\n"  # a script: not patched
    assert any("ghost" in note and "left out" in note for note in result.notes)
    assert (bundle / "lib" / "licenses" / "libhelper1" / "copyright").is_file()
    assert helper.name == "libhelper1"
    env = {"PATH": "/usr/bin:/bin"}
    assert subprocess.run([str(bundle / "bin" / "neato")], env=env).returncode == 0
