"""Run-time data a maintainer script makes at install time (fcslim.fetch.generated),
offline against the signed test mirror: the program is taken from its verified
package, run once against the bundle's relocated files, and the file it leaves
is recorded; a program that fails, or a machine that cannot run the target's
programs, leaves a note saying what will not work.  The real case (graphviz's
config6a) runs in a clean bullseye root in tests/test_e2e_graphviz.py."""

from __future__ import annotations

import dataclasses

import pytest

from fcslim.debian.signatures import Trust
from fcslim.fetch import generated, rundata
from fcslim.fetch.closure import fetch_missing
from fcslim.fetch.generated import GenerateRule

from tests.support.debian_mirror import FakeMirror, dir_member, file_member, library_members
from tests.support.fetch_world import MULTIARCH, built, key, private_cache, profile_for  # noqa: F401  (fixtures)

CONFIG = "data/usr/lib/foo/plugins/foo.conf"
SCRIPT = b'#!/bin/sh\n[ "$1" = "-c" ] || exit 3\nls "$FOO_PLUGINS" > "$FOO_PLUGINS/foo.conf"\n'


@pytest.fixture
def plugin_mirror(tmp_path, key, built):
    fake = FakeMirror(tmp_path / "mirror", key=key)
    members = library_members("libfoo1", f"{MULTIARCH}/libfoo.so.1", built["foo"].read_bytes(), {})
    members += [dir_member(f"./{d}/") for d in ("usr/lib", "usr/lib/foo", "usr/lib/foo/plugins", "usr/sbin")]
    members += [file_member("./usr/lib/foo/plugins/plugin_a.so", b"not really a plugin\n"),
                file_member("./usr/sbin/foo-config-update", SCRIPT, 0o755)]
    fake.add("testrel", "libfoo1", "1.2.3-1", members, source="foo")
    fake.add("testrel", "libbar2", "2.0-3", library_members(
        "libbar2", f"{MULTIARCH}/libbar.so.2", built["bar"].read_bytes(), {}), source="bar")
    fake.publish("testrel")
    fake.serve()
    yield fake
    fake.stop()


def _rule(program: str = "usr/sbin/foo-config-update", args=("-c",)) -> rundata.DataRule:
    return rundata.DataRule(
        "libfoo.so.1", "foo finds no plugin without foo.conf",
        (rundata.PackageRule(("libfoo1",), ("usr/lib/foo/plugins/*",)),),
        (rundata.EnvRule("FOO_PLUGINS", ("usr/lib/foo/plugins",)),), (),
        (GenerateRule(CONFIG, "libfoo1", program, tuple(args), (("FOO_PLUGINS", "data/usr/lib/foo/plugins"),)),))


@pytest.fixture
def on_this_machine(monkeypatch):
    """No clean root in an offline test: the program runs on this machine."""
    monkeypatch.setattr(generated, "target_root", lambda profile: (None, "no root in this test"))


def _fetch(tmp_path, mirror, key, built, monkeypatch, rule):
    monkeypatch.setattr(rundata, "data_rules", lambda: {"libfoo.so.1": rule})
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    (bundle / "pkg" / "_ext.so").write_bytes(built["ext"].read_bytes())
    return bundle, fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)))


def test_the_program_makes_the_file_in_the_bundle(tmp_path, plugin_mirror, key, built, monkeypatch, on_this_machine):
    bundle, result = _fetch(tmp_path, plugin_mirror, key, built, monkeypatch, _rule())
    made = bundle / "lib" / CONFIG
    assert made.read_text().split() == ["foo.conf", "plugin_a.so"]  # FOO_PLUGINS: the relocated plugins
    record = {f.path: f for f in result.data_files}[f"lib/{CONFIG}"]
    assert record.package == "libfoo1" and record.member == "(made by usr/sbin/foo-config-update -c)"
    assert record.size == made.stat().st_size and record.deb_sha256
    assert any("made on this machine" in note for note in result.notes)
    assert not (bundle / "foo-config-update").exists() and not list(bundle.rglob("foo-config-update"))


def test_a_failing_program_leaves_a_note_not_a_file(tmp_path, plugin_mirror, key, built, monkeypatch, on_this_machine):
    bundle, result = _fetch(tmp_path, plugin_mirror, key, built, monkeypatch, _rule(args=("--wrong",)))
    assert not (bundle / "lib" / CONFIG).exists()
    assert any("was not made" in n and "exited 3" in n and "foo finds no plugin" in n for n in result.notes)
    _bundle, missing = _fetch(tmp_path / "2", plugin_mirror, key, built, monkeypatch,
                              _rule(program="usr/sbin/no-such-program"))
    assert any("has no usr/sbin/no-such-program" in n for n in missing.notes)


def test_a_machine_that_cannot_run_the_target_says_so(tmp_path, plugin_mirror, key, built, monkeypatch,
                                                      on_this_machine):
    monkeypatch.setattr(generated, "host_runs_target", lambda profile: "this machine is riscv64")
    bundle, result = _fetch(tmp_path, plugin_mirror, key, built, monkeypatch, _rule())
    assert not (bundle / "lib" / CONFIG).exists()
    assert any("was not made" in n and "riscv64" in n for n in result.notes)


def test_host_runs_target_compares_machine_and_glibc():
    profile = profile_for("http://unused.invalid")
    assert generated.host_runs_target(profile) is None  # x86_64 with a newer glibc than bullseye's 2.31
    newer = dataclasses.replace(profile, glibc=(9, 99))
    assert "older than" in generated.host_runs_target(newer)
    arm = dataclasses.replace(profile, arch="aarch64")
    assert "aarch64" in generated.host_runs_target(arm)
