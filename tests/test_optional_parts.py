"""Optional parts (fcslim.fetch.optional): a library Debian lacks that only a
Python extension module needs is a warning naming the module, the feature and
the wheel that ships it, not a failed fetch, unless strict_optional; offline,
plus numba with and without tbb in a clean bullseye root."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.debian.errors import NoPackageError
from fcslim.debian.signatures import Trust
from fcslim.elf.findings import MissingLibrary
from fcslim.fetch.closure import fetch_missing
from fcslim.fetch.optional import extension_module, split_optional, wheel_for

from .support.elffiles import build_shared_library
from tests.support.fetch_world import built, key, mirror, private_cache, profile_for  # noqa: F401  (fixtures)


def test_extension_modules_and_libraries():
    assert extension_module("numba/np/ufunc/tbbpool.cpython-39-x86_64-linux-gnu.so") == "numba.np.ufunc.tbbpool"
    assert extension_module("_cffi_backend.abi3.so") == "_cffi_backend"
    assert extension_module("lib/libfoo.so.1") is None
    assert extension_module("numpy.libs/libopenblas-abc.so") is None
    assert extension_module("pkg/libbar.so.2") is None


def test_split_optional_names_module_feature_and_wheel():
    misses = [MissingLibrary("libtbb.so.12", ("numba/np/ufunc/tbbpool.cpython-39-x86_64-linux-gnu.so",)),
              MissingLibrary("libbaz.so.1", ("lib/libfoo.so.1",))]
    fatal, optional = split_optional(misses)
    assert [m.soname for m in fatal] == ["libbaz.so.1"]
    assert optional[0].modules == ("numba.np.ufunc.tbbpool",) and optional[0].wheel == "tbb"
    assert "TBB threading layer" in optional[0].feature
    assert wheel_for("libiomp5.so") == "intel-openmp" and wheel_for("libnothing.so.1") is None


def test_missing_library_of_an_extension_is_a_warning_unless_strict(tmp_path, mirror, key, gcc):
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    stub = build_shared_library(tmp_path / "libtbb.so.12", "int tbb_f(void){return 1;}\n", soname="libtbb.so.12")
    build_shared_library(bundle / "pkg" / "_tbbpool.cpython-39-x86_64-linux-gnu.so",
                         "int tbb_f(void); int g(void){return tbb_f();}\n", link=[stub])
    result = fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)))
    assert result.missing == [] and [o.soname for o in result.optional_missing] == ["libtbb.so.12"]
    assert any("pkg._tbbpool" in w and "'tbb'" in w for w in result.warnings)
    with pytest.raises(NoPackageError, match="libtbb.so.12.*'tbb' ships it"):
        fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)), strict_optional=True)


CHECK = r'''
import sys
import numpy as np
from numba import config, njit, prange, threading_layer
if len(sys.argv) > 1:
    config.THREADING_LAYER = sys.argv[1]
@njit(parallel=True)
def total(a):
    s = 0.0
    for i in prange(a.shape[0]):
        s += a[i] * 2
    return s
print("numba:", total(np.arange(1000.0)), threading_layer())
'''


@pytest.mark.network
@pytest.mark.rootfs
@pytest.mark.slow
def test_numba_with_and_without_tbb(tmp_path, run_in_bullseye):
    (tmp_path / "requirements.txt").write_text("numba\n")
    (tmp_path / "check").mkdir()
    (tmp_path / "check" / "check.py").write_text(CHECK)
    binds = {str(tmp_path / "check"): "/check"}
    # --no-slim: the import check still runs in the clean root; slimming numba
    # twice would only add CI time (slimming is covered elsewhere).
    args = ["resolve", str(tmp_path / "requirements.txt"), "--runtime", "debian11-python3.9", "-q", "--no-slim"]

    plain = CliRunner().invoke(main, args + ["--output", str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    assert "numba.np.ufunc.tbbpool" in " ".join(plain.output.split())
    run = run_in_bullseye(tmp_path / "plain", ["python3", "/check/check.py"], binds=binds)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[1:] == ["999000.0", "omp"]

    with_tbb = CliRunner().invoke(main, args + ["--output", str(tmp_path / "tbb"), "--add-wheel-for-missing"])
    assert with_tbb.exit_code == 0, with_tbb.output
    assert (tmp_path / "tbb" / "lib" / "libtbb.so.12").is_file()
    run = run_in_bullseye(tmp_path / "tbb", ["python3", "/check/check.py", "tbb"], binds=binds)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[1:] == ["999000.0", "tbb"]
    shutil.rmtree(tmp_path / "plain")
