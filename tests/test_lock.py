"""Locks for a target, installed with hashes checked (offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fcslim.core.errors import HashMismatchError, InputError
from fcslim.resolve.failures import IncompleteLockError
from fcslim.resolve.install import InstallOptions, install
from fcslim.resolve.lock import lock
from fcslim.resolve.lockfile import TARGET_PREFIX, parse_pins
from fcslim.target.profile import load_profile
from tests.support.wheels import build_wheel


def offline(links: Path, cache: Path) -> InstallOptions:
    return InstallOptions(no_index=True, find_links=(str(links),), cache_dir=cache)


def test_lock_pins_for_the_target_with_hashes(tmp_path, links, cache):
    req_in = tmp_path / "requirements.in"
    req_in.write_text("needs-backport\nmodern\n")
    result = lock(req_in, load_profile("fc-python3.10"), tmp_path / "r310.lock", offline(links, cache))
    pins310 = {p.name: p.version for p in result.pins}
    assert pins310 == {"alpha": "2.0", "backport": "1.0", "modern": "1.0", "needs-backport": "1.0"}
    assert all(len(p.hashes) == 1 and p.hashes[0].startswith("sha256:") for p in result.pins)
    text = (tmp_path / "r310.lock").read_text()
    assert text.startswith("# Pinned for fc-python3.10")
    target = json.loads(next(l for l in text.splitlines() if l.startswith(TARGET_PREFIX))[len(TARGET_PREFIX):])
    assert target["python"] == "3.10.13" and target["glibc"] == "2.28"
    assert "# via" in text and "/tmp/fcslim-lock" not in text
    r311 = lock(req_in, load_profile("aws-python3.11"), tmp_path / "r311.lock", offline(links, cache))
    assert {p.name: p.version for p in r311.pins} == {"alpha": "2.0", "modern": "2.0", "needs-backport": "1.0"}


def test_install_from_lock_checks_hashes(tmp_path, links, cache):
    req_in = tmp_path / "requirements.in"
    req_in.write_text("needs-backport\n")
    profile = load_profile("fc-python3.10")
    lock(req_in, profile, tmp_path / "r.lock", offline(links, cache))
    result = install(tmp_path / "r.lock", profile, tmp_path / "ok", offline(links, cache))
    assert result.hash_checked and result.lock_sha256
    assert {d.name for d in result.distributions} == {"needs-backport", "alpha", "backport"}

    # Same names and versions, different bytes: the lock must catch it.
    tampered = tmp_path / "tampered"
    shutil.copytree(links, tampered)
    build_wheel(tampered, "alpha", "2.0", files={"alpha/extra.py": "EVIL = True\n"})
    with pytest.raises(HashMismatchError, match="alpha"):
        install(tmp_path / "r.lock", profile, tmp_path / "bad", offline(tampered, cache))


def test_lock_for_another_runtime_is_refused(tmp_path, links, cache):
    req_in = tmp_path / "requirements.in"
    req_in.write_text("needs-backport\n")
    lock(req_in, load_profile("aws-python3.11"), tmp_path / "r.lock", offline(links, cache))
    with pytest.raises(InputError, match="made for aws-python3.11, not fc-python3.10"):
        install(tmp_path / "r.lock", load_profile("fc-python3.10"), tmp_path / "out", offline(links, cache))


def test_a_lock_missing_a_target_dependency(tmp_path, links, cache):
    req_in = tmp_path / "requirements.in"
    req_in.write_text("needs-backport\n")
    lock(req_in, load_profile("aws-python3.11"), tmp_path / "r.lock", offline(links, cache))
    # The same pins without fcslim's header (as pip-compile on a 3.11 host writes them).
    body = "\n".join(l for l in (tmp_path / "r.lock").read_text().splitlines() if not l.startswith("#"))
    (tmp_path / "plain.lock").write_text(body + "\n")
    with pytest.raises(IncompleteLockError, match="backport"):
        install(tmp_path / "plain.lock", load_profile("fc-python3.10"), tmp_path / "out", offline(links, cache))


def test_relocking_a_lock_or_over_the_input_is_refused(tmp_path, links, cache):
    req_in = tmp_path / "requirements.in"
    req_in.write_text("alpha\n")
    with pytest.raises(InputError, match="input file itself"):
        lock(req_in, load_profile("fc-python3.10"), req_in, offline(links, cache))
    lock(req_in, load_profile("fc-python3.10"), tmp_path / "r.lock", offline(links, cache))
    with pytest.raises(InputError, match="already a lock"):
        lock(tmp_path / "r.lock", load_profile("fc-python3.10"), tmp_path / "again.lock", offline(links, cache))


def test_parse_pins_reads_continuations():
    text = "alpha==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via x\nbeta[x]==2 ; python_version<'4'\n"
    pins = parse_pins(text)
    assert [(p.name, p.version, p.hashes) for p in pins] == [
        ("alpha", "1.0", ("sha256:aa", "sha256:bb")), ("beta", "2", ())]
