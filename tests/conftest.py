"""Fixtures shared by the whole suite.

Expensive things are built once per run and cached outside the repository under
``$FCSLIM_CACHE_DIR`` (``.ci/run`` points it at a persistent directory): clean
Debian roots, uv's wheel cache, Debian indexes and packages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fcslim.verify import rootfs


def pytest_collection_modifyitems(config, items):
    # Network and rootfs tests are marked, so `-m "not network"` gives the fast
    # offline layer; CI runs everything.
    pass


@pytest.fixture(scope="session")
def cache_root() -> Path:
    from fcslim.cache.location import cache_root as root

    path = root()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def bullseye_root() -> Path:
    """A clean `debootstrap --variant=minbase --include=python3 bullseye` root
    (Debian 11, CPython 3.9, glibc 2.31), built once and cached."""
    reason = rootfs.rootfs_support()
    if reason:
        pytest.fail(f"rootfs tests need a clean Debian root: {reason}")
    return rootfs.ensure_root("bullseye")


@pytest.fixture
def run_in_bullseye(bullseye_root):
    """Run a command in the clean bullseye root with a bundle at /code and FC's
    search paths (LD_LIBRARY_PATH=/code:/code/lib:/usr/local/lib)."""

    def run(bundle: Path, argv, env=None, binds=None):
        full_env = {
            "LD_LIBRARY_PATH": "/code:/code/lib:/usr/local/lib",
            "PYTHONPATH": "/code",
        }
        full_env.update(env or {})
        all_binds = {str(bundle): "/code"}
        all_binds.update(binds or {})
        return rootfs.run_in_root(bullseye_root, argv, binds=all_binds, env=full_env)

    return run


@pytest.fixture(scope="session")
def gcc() -> str:
    path = shutil.which("gcc") or shutil.which("cc")
    if not path:
        pytest.fail("the offline layer compiles tiny .so files and needs gcc")
    return path


@pytest.fixture(scope="session")
def links(tmp_path_factory) -> Path:
    """A find-links directory of the offline layer's tiny wheels and sdists
    (tests/support/wheels.py), built once per run."""
    from tests.support.wheels import sample_find_links

    return sample_find_links(tmp_path_factory.mktemp("links"))


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """A private uv cache for the offline install tests."""
    return tmp_path_factory.mktemp("uvcache")


@pytest.fixture
def quiet():
    """Progress output off for one test (it is a process-wide reporter), and
    back to the default afterwards."""
    from fcslim.core import progress

    progress.configure(quiet=True)
    yield
    progress.configure()
