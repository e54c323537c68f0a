"""glibc 2.24/2.26 targets, which uv's --python-platform cannot name.

aws-python3.11 runs glibc 2.26.  uv is asked for manylinux_2_28 and what it
picks is judged by the profile's own tags: a ``manylinux_2_24`` wheel is taken
(uv's 2_17 target would skip it), a 2_27-only version is replaced by the newest
loadable one, and of two files of one version the loadable one is installed.
The offline cases use tiny wheels shaped like pandas 3, numpy 2.4 and
cryptography; the network case installs the real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from fcslim.core.errors import NoCompatibleWheelError
from fcslim.resolve.install import InstallOptions, install
from fcslim.resolve.lock import lock
from fcslim.resolve.uv import uv_platform
from fcslim.target.profile import load_profile
from tests.support.wheels import build_wheel

X86 = "x86_64"


@pytest.fixture(scope="module")
def glibc_links(tmp_path_factory) -> Path:
    links = tmp_path_factory.mktemp("glibc-links")
    # like pandas 3: one wheel, loadable from glibc 2.24
    build_wheel(links, "frames", "1.0", tags=[f"cp311-cp311-manylinux_2_17_{X86}.manylinux2014_{X86}"],
                requires_dist=["arrays>=1"])
    build_wheel(links, "frames", "2.0", tags=[f"cp311-cp311-manylinux_2_24_{X86}.manylinux_2_28_{X86}"],
                requires_dist=["arrays>=1"])
    # like numpy 2.4: the newest needs glibc 2.27
    build_wheel(links, "arrays", "1.0", tags=[f"cp311-cp311-manylinux_2_17_{X86}.manylinux2014_{X86}"])
    build_wheel(links, "arrays", "2.0", tags=[f"cp311-cp311-manylinux_2_27_{X86}.manylinux_2_28_{X86}"])
    # like cryptography: two files of one version, uv prefers the 2_28 one
    build_wheel(links, "crypto", "1.0", tags=[f"cp38-abi3-manylinux_2_17_{X86}.manylinux2014_{X86}"])
    build_wheel(links, "crypto", "1.0", tags=[f"cp38-abi3-manylinux_2_28_{X86}"])
    # nothing a 2.26 target can load
    build_wheel(links, "newonly", "1.0", tags=[f"cp311-cp311-manylinux_2_28_{X86}"])
    return links


@pytest.fixture
def options(glibc_links, tmp_path) -> InstallOptions:
    return InstallOptions(no_index=True, find_links=(str(glibc_links),), cache_dir=tmp_path / "uvcache")


def test_uv_is_asked_for_the_next_target_up():
    platform = uv_platform(load_profile("aws-python3.11"))
    assert platform.name == "x86_64-manylinux_2_28" and platform.above and not platform.exact
    exact = uv_platform(load_profile("fc-python3.10"))
    assert exact.name == "x86_64-manylinux_2_28" and exact.exact and not exact.above


def test_the_profiles_tags_decide(tmp_path, options):
    req = tmp_path / "requirements.txt"
    req.write_text("frames\ncrypto\n")
    result = install(req, load_profile("aws-python3.11"), tmp_path / "out", options)
    got = {d.name: (d.version, d.tags) for d in result.distributions}
    assert got["frames"][0] == "2.0"  # the manylinux_2_24 wheel; uv's 2_17 target would give 1.0
    assert got["arrays"][0] == "1.0"  # 2.0 needs glibc 2.27
    assert got["crypto"] == ("1.0", (f"cp38-abi3-manylinux2014_{X86}", f"cp38-abi3-manylinux_2_17_{X86}"))


def test_a_target_that_can_load_2_28_gets_the_newest(tmp_path, options):
    req = tmp_path / "requirements.txt"
    req.write_text("frames\ncrypto\n")
    result = install(req, load_profile("debian12-python3.11"), tmp_path / "out", options)
    got = {d.name: (d.version, d.tags) for d in result.distributions}
    assert got["frames"][0] == "2.0" and got["arrays"][0] == "2.0"
    assert got["crypto"] == ("1.0", (f"cp38-abi3-manylinux_2_28_{X86}",))


def test_a_lock_for_2_26_pins_loadable_versions_and_installs_hash_checked(tmp_path, options):
    req = tmp_path / "requirements.in"
    req.write_text("frames\n")
    profile = load_profile("aws-python3.11")
    result = lock(req, profile, tmp_path / "r.lock", options)
    assert {(p.name, p.version) for p in result.pins} == {("frames", "2.0"), ("arrays", "1.0")}
    text = (tmp_path / "r.lock").read_text()
    assert "fcslim-lock-" not in text and "-r requirements.in" in text  # no temporary paths
    assert "versions without a wheel glibc 2.26 loads left out" in text
    installed = install(tmp_path / "r.lock", profile, tmp_path / "out", options)
    assert installed.hash_checked
    assert {d.name: d.version for d in installed.distributions} == {"frames": "2.0", "arrays": "1.0"}


def test_nothing_loadable_is_diagnosed(tmp_path, options):
    req = tmp_path / "requirements.txt"
    req.write_text("newonly\n")
    with pytest.raises(NoCompatibleWheelError, match="glibc 2.28 or newer"):
        install(req, load_profile("aws-python3.11"), tmp_path / "out", options)


@pytest.mark.network
def test_real_pandas_for_lambda_python311(tmp_path):
    """pandas 3 ships cp311 manylinux_2_24 wheels only; numpy 2.3+ needs glibc 2.27."""
    req = tmp_path / "requirements.txt"
    req.write_text("pandas\ncryptography\n")
    profile = load_profile("aws-python3.11")
    result = install(req, profile, tmp_path / "out", InstallOptions())
    got = {d.name.lower(): d for d in result.distributions}
    assert Version(got["pandas"].version) >= Version("3")
    assert any("manylinux_2_24" in t for t in got["pandas"].tags)
    assert Version(got["numpy"].version) < Version("2.3")
    assert not any("manylinux_2_28" in t or "manylinux_2_34" in t for t in got["cryptography"].tags)
