"""uv.lock and pylock.toml against PyPI: a universal lock made on this host
installs, for each runtime, the wheel that runtime loads, hash-checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fcslim.resolve.inputs import materialise, open_input
from fcslim.resolve.install import InstallOptions, install
from fcslim.resolve.uv import uv_binary
from fcslim.target.profile import load_profile

pytestmark = pytest.mark.network

PYPROJECT = """\
[project]
name = "fn"
version = "0"
requires-python = ">=3.9"
dependencies = ["numpy==2.0.2", "six"]
"""


@pytest.fixture(scope="module")
def uv_lock(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pypi-project")
    (root / "pyproject.toml").write_text(PYPROJECT)
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
    subprocess.run([uv_binary(), "lock", "--python", sys.executable, "--no-config"], cwd=root, env=env, check=True,
                   capture_output=True, text=True)
    return root / "uv.lock"


@pytest.mark.parametrize("runtime,wheel", [
    ("fc-python3.10", "numpy-2.0.2-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
    ("aws-python3.12-arm64", "numpy-2.0.2-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"),
    ("debian11-python3.9", "numpy-2.0.2-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
])
def test_the_universal_lock_gives_each_runtime_its_wheel(uv_lock, tmp_path, runtime, wheel):
    given = materialise(open_input(uv_lock), load_profile(runtime), tmp_path)
    line = next(l for l in given.path.read_text().splitlines() if l.startswith("numpy @ "))
    assert line.split(" @ ")[1].split(" ")[0].endswith("/" + wheel)
    assert "--hash=sha256:" in line


def test_uv_lock_installs_for_the_target_with_hashes(uv_lock, tmp_path):
    profile = load_profile("fc-python3.10")
    given = materialise(open_input(uv_lock), profile, tmp_path / "in")
    result = install(given.path, profile, tmp_path / "out", InstallOptions(no_deps=True))
    assert result.hash_checked
    assert {d.name: d.version for d in result.distributions}["numpy"] == "2.0.2"
    assert any("cp310" in d.wheel for d in result.distributions if d.name == "numpy")
