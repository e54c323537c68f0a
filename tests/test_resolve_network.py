"""Resolution against PyPI for targets other than the host (network).

The two proof cases where resolving with the host's interpreter gets it wrong:
aiohttp needs async-timeout only below Python 3.11, and pycparser 3 dropped
Python 3.9 (cairocffi → cffi → pycparser).
"""

from __future__ import annotations



import pytest
from packaging.specifiers import SpecifierSet

from fcslim.core.errors import NoCompatibleWheelError
from fcslim.resolve.lock import lock
from fcslim.resolve.install import InstallOptions, install
from fcslim.target.profile import load_profile

pytestmark = pytest.mark.network


def test_aiohttp_brings_async_timeout_only_below_3_11(tmp_path):
    req_in = tmp_path / "requirements.in"
    req_in.write_text("aiohttp\n")
    on310 = {p.name for p in lock(req_in, load_profile("fc-python3.10"), tmp_path / "a.lock", InstallOptions()).pins}
    on312 = {p.name for p in lock(req_in, load_profile("fc-python3.12"), tmp_path / "b.lock", InstallOptions()).pins}
    assert "aiohttp" in on310 and "aiohttp" in on312
    assert "async-timeout" in on310
    assert "async-timeout" not in on312


def test_cairocffi_on_3_9_gets_a_pycparser_that_supports_3_9(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("cairocffi\n")
    profile = load_profile("fc-python3.9")
    result = install(req, profile, tmp_path / "out", InstallOptions())
    dists = {d.name.lower(): d for d in result.distributions}
    assert {"cairocffi", "cffi", "pycparser"} <= set(dists)
    for d in result.distributions:
        if d.requires_python:
            assert SpecifierSet(d.requires_python).contains(profile.python_full_version)
    assert any("cp39" in t for t in dists["cffi"].tags)


def test_no_wheel_diagnosis_reads_pypi(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==2.3.0\n")
    with pytest.raises(NoCompatibleWheelError) as caught:
        install(req, load_profile("fc-python3.10"), tmp_path / "out", InstallOptions())
    text = str(caught.value)
    assert "numpy" in text and "requirements.txt:1" in text
    assert "2.3.0" in text and "2.2." in text  # versions seen, from the index
    assert "3.11" in text  # what 2.3.0 needs
    assert "pin numpy==" in text
