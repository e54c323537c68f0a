"""Installing for a target from tiny local wheels (offline).

The host runs Python 3.11 (or whatever CI has); every case below is judged for
the *target* profile, which is why several expectations differ between
fc-python3.10 and aws-python3.11 for the same requirement file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fcslim.core.errors import (
    EXIT_NETWORK,
    EXIT_RESOLUTION,
    ConflictError,
    NativeSdistError,
    NetworkError,
    NoCompatibleWheelError,
    UnknownPackageError,
)
from fcslim.resolve.diagnose import tags_tried_summary
from fcslim.resolve.install import InstallOptions, install
from fcslim.resolve.installed import TargetMismatchError, check_installed, read_installed
from fcslim.resolve.uv import run_uv, uv_binary, uv_manylinux_minors, uv_python_platform
from fcslim.target.profile import builtin_profiles, load_profile


@pytest.fixture(scope="module")
def offline(links, tmp_path_factory) -> InstallOptions:
    return InstallOptions(no_index=True, find_links=(str(links),),
                          cache_dir=tmp_path_factory.mktemp("uvcache"))


def run(tmp_path: Path, text: str, runtime: str, options: InstallOptions):
    req = tmp_path / "requirements.txt"
    req.write_text(text)
    dest = tmp_path / f"out-{runtime}"
    result = install(req, load_profile(runtime), dest, options)
    return result, {d.name: d.version for d in result.distributions}


def test_markers_are_judged_for_the_target_not_the_host(tmp_path, offline):
    _r310, on310 = run(tmp_path, "needs-backport\n", "fc-python3.10", offline)
    _r311, on311 = run(tmp_path, "needs-backport\n", "aws-python3.11", offline)
    assert on310 == {"needs-backport": "1.0", "alpha": "2.0", "backport": "1.0"}
    assert on311 == {"needs-backport": "1.0", "alpha": "2.0"}  # no backport on 3.11, no win32 dep anywhere


def test_requires_python_is_judged_for_the_target(tmp_path, offline):
    result, on39 = run(tmp_path, "modern\n", "fc-python3.9", offline)
    _r, on312 = run(tmp_path, "modern\n", "fc-python3.12", offline)
    assert on39 == {"modern": "1.0"}
    assert on312 == {"modern": "2.0"}
    (dist,) = result.distributions
    assert dist.requires_python == ">=3.8"


def test_cp_specific_abi3_and_manylinux_2_28_wheels(tmp_path, offline):
    result, got = run(tmp_path, "cponly\nstable\nglibc228\n", "fc-python3.10", offline)
    assert got == {"cponly": "1.0", "stable": "1.0", "glibc228": "1.0"}
    tags = {d.name: d.tags for d in result.distributions}
    assert "cp310-cp310-manylinux_2_28_x86_64" in tags["glibc228"]
    assert any(t.startswith("cp38-abi3-") for t in tags["stable"])
    files = {d.name: d.files for d in result.distributions}
    assert "cponly/__init__.py" in files["cponly"]
    assert all(d.size > 0 for d in result.distributions)
    assert not (result.dest / ".lock").exists()


def test_newest_wheel_the_target_accepts_is_chosen(tmp_path, offline):
    _r, on310 = run(tmp_path, "newglibc\n", "fc-python3.10", offline)
    _r, on312 = run(tmp_path, "newglibc\n", "aws-python3.12", offline)
    assert on310 == {"newglibc": "1.0"}  # 2.0 needs glibc 2.34
    assert on312 == {"newglibc": "2.0"}


def test_no_wheel_for_newer_glibc_is_diagnosed(tmp_path, offline):
    with pytest.raises(NoCompatibleWheelError) as caught:
        run(tmp_path, "alpha\nnewglibc==2.0\n", "fc-python3.10", offline)
    text = str(caught.value)
    assert caught.value.exit_code == EXIT_RESOLUTION
    assert "newglibc" in text and "requirements.txt:2" in text
    assert "Versions seen: 2 (2.0, 1.0)" in text
    assert tags_tried_summary(load_profile("fc-python3.10")) in text
    assert "only manylinux_2_34 wheels" in text and "glibc 2.28" in text
    assert "pin newglibc==1.0" in text
    assert "aws-python3.12" in text  # a runtime the wheel does fit


def test_no_wheel_for_the_python_version(tmp_path, offline):
    with pytest.raises(NoCompatibleWheelError) as caught:
        run(tmp_path, "cponly\n", "fc-python3.12", offline)
    assert "wheels only for cp310" in str(caught.value)
    assert "CPython 3.12" in str(caught.value)


def test_no_wheel_for_the_architecture(tmp_path, offline):
    with pytest.raises(NoCompatibleWheelError, match="aarch64"):
        run(tmp_path, "armonly\n", "fc-python3.10", offline)
    _r, got = run(tmp_path, "armonly\n", "aws-python3.10-arm64", offline)
    assert got == {"armonly": "1.0"}


def test_unknown_package_names_the_line(tmp_path, offline):
    with pytest.raises(UnknownPackageError) as caught:
        run(tmp_path, "alpha\nno-such-package-here\n", "fc-python3.10", offline)
    assert "no-such-package-here (at" in str(caught.value)
    assert "requirements.txt:2" in str(caught.value)


def test_conflicting_pins(tmp_path, offline):
    with pytest.raises(ConflictError) as caught:
        run(tmp_path, "alpha==1.0\nneeds-backport\nalpha==2.0\n", "fc-python3.10", offline)
    text = str(caught.value)
    assert "alpha==1.0" in text and "alpha==2.0" in text
    assert "requirements.txt:1" in text and "requirements.txt:3" in text


def test_index_unreachable(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # uv backs off ~10 s otherwise
    options = InstallOptions(index_url="http://127.0.0.1:9/simple", cache_dir=offline.cache_dir)
    with pytest.raises(NetworkError) as caught:
        run(tmp_path, "alpha\n", "fc-python3.10", options)
    assert "127.0.0.1:9" in str(caught.value)
    assert caught.value.exit_code == EXIT_NETWORK


def test_sdists_refused_by_default_pure_ones_built_behind_the_flag(tmp_path, offline):
    with pytest.raises(NoCompatibleWheelError, match="only an sdist .*--allow-pure-sdist"):
        run(tmp_path, "puresrc\n", "fc-python3.10", offline)
    allowing = InstallOptions(no_index=True, find_links=offline.find_links, cache_dir=offline.cache_dir,
                              allow_pure_sdist=True)
    result, got = run(tmp_path, "puresrc\nalpha\n", "fc-python3.10", allowing)
    assert got == {"puresrc": "1.0", "alpha": "2.0"}
    assert result.built_from_sdist == ["puresrc"]
    assert [d.tags for d in result.distributions if d.name == "puresrc"] == [("py3-none-any",)]


def test_work_alongside_uv_starts_once_while_uv_installs(tmp_path, offline):
    """``uv_started`` is the pipeline's cue to import later stages while uv
    runs: called once, also when uv runs again to build a pure sdist."""
    allowing = InstallOptions(no_index=True, find_links=offline.find_links, cache_dir=offline.cache_dir,
                              allow_pure_sdist=True)
    calls = []
    req = tmp_path / "requirements.txt"
    req.write_text("puresrc\nalpha\n")
    result = install(req, load_profile("fc-python3.10"), tmp_path / "out", allowing,
                     uv_started=lambda: calls.append("started"))
    assert result.built_from_sdist == ["puresrc"]  # uv ran twice
    assert calls == ["started"]  # once (what uv has written by then is a race: not looked at)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    install(empty, load_profile("fc-python3.10"), tmp_path / "none", offline, uv_started=lambda: calls.append("x"))
    assert calls == ["started"]


def test_run_uv_calls_started_while_uv_runs(tmp_path):
    flag = tmp_path / "started"
    script = f"for i in $(seq 500); do [ -e {flag} ] && echo saw-it && exit 0; sleep 0.01; done; exit 3"
    run = run_uv(["sh", "-c", script], dict(os.environ), started=flag.touch)
    assert (run.returncode, run.stdout) == (0, "saw-it\n")


def test_run_uv_stops_uv_when_the_work_alongside_fails(tmp_path):
    pid_file = tmp_path / "pid"
    script = f"echo $$ > {pid_file}; sleep 30"

    def fail() -> None:
        while not pid_file.exists() or not pid_file.read_text().strip():
            time.sleep(0.01)
        raise RuntimeError("alongside")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="alongside"):
        run_uv(["sh", "-c", script], dict(os.environ), started=fail)
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(int(pid_file.read_text()), 0)


def test_native_sdist_is_refused_even_behind_the_flag(tmp_path, offline):
    allowing = InstallOptions(no_index=True, find_links=offline.find_links, cache_dir=offline.cache_dir,
                              allow_pure_sdist=True)
    with pytest.raises(NativeSdistError) as caught:
        run(tmp_path, "nativesrc\n", "fc-python3.10", allowing)
    assert "_speedups.c" in str(caught.value)


def test_every_builtin_profile_maps_to_a_platform_uv_knows(offline):
    minors = uv_manylinux_minors(uv_binary())
    for profile in builtin_profiles().values():
        platform = uv_python_platform(profile)
        arch, _, tag = platform.partition("-manylinux_")
        assert arch == profile.arch
        major, minor = (int(x) for x in tag.split("_"))
        assert minor in minors
        if profile.glibc[1] in minors or profile.glibc[1] > max(minors):
            assert (major, minor) <= profile.glibc  # its own glibc, or the newest uv knows
        else:
            # the next one up (its picks are then judged by the profile's tags)
            assert (major, minor) > profile.glibc and not [m for m in minors if profile.glibc[1] < m < minor]


def test_user_profile_file_and_verification_of_the_installed_tree(tmp_path, offline):
    raw = json.loads(json.dumps(builtin_profiles()["fc-python3.10"].to_dict()))
    raw.update({"glibc": "2.34", "name": "my-runtime"})
    path = tmp_path / "my-runtime.json"
    path.write_text(json.dumps(raw))
    profile = load_profile(str(path))
    req = tmp_path / "r.txt"
    req.write_text("newglibc\n")
    result = install(req, profile, tmp_path / "out", offline)
    assert {d.name: d.version for d in result.distributions} == {"newglibc": "2.0"}
    # the same tree is refused for a runtime with an older glibc
    with pytest.raises(TargetMismatchError, match="newglibc 2.0 was installed from a wheel tagged"):
        check_installed(read_installed(tmp_path / "out"), load_profile("fc-python3.10"))


def test_verification_catches_requires_python(tmp_path, offline):
    req = tmp_path / "r.txt"
    req.write_text("modern==2.0\n")
    install(req, load_profile("aws-python3.11"), tmp_path / "out", offline)
    with pytest.raises(TargetMismatchError, match="requires Python >=3.11"):
        check_installed(read_installed(tmp_path / "out"), load_profile("fc-python3.10"))
