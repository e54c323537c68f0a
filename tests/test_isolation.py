"""The suite never touches the user's own caches (conftest redirects them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fcslim.cache.location import cache_root, cache_subdir
from tests.conftest import USER_CACHES, suite_cache_dir


def outside_user_caches(path: Path) -> bool:
    path = path.resolve()
    return all(path != user and user not in path.parents for user in USER_CACHES)


def test_fcslim_and_uv_caches_point_at_the_test_cache():
    test_cache = suite_cache_dir()
    assert cache_root() == test_cache
    assert Path(os.environ["UV_CACHE_DIR"]).resolve().is_relative_to(test_cache)
    assert Path(os.environ["XDG_CACHE_HOME"]).resolve().is_relative_to(test_cache)
    assert outside_user_caches(test_cache)
    repo = Path(__file__).resolve().parents[1]
    assert not test_cache.is_relative_to(repo)


def test_the_e2e_slim_key_lands_in_the_test_cache():
    # tests/test_e2e_slim.py keeps its installed set under this key; it used to
    # land in the user's own fcslim cache.
    key = cache_subdir("test-e2e-slim")
    assert key.is_relative_to(suite_cache_dir()) and outside_user_caches(key)


def test_a_child_fcslim_process_uses_the_test_cache():
    out = subprocess.run([sys.executable, "-m", "fcslim", "cache", "info", "--json"], capture_output=True,
                         text=True, check=True)
    root = Path(json.loads(out.stdout)["root"])
    assert root == suite_cache_dir() and outside_user_caches(root)
