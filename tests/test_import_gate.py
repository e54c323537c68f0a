"""The import gate (fcslim.verify.import_gate): a requested distribution's
module failing on the target fails the build with exit 8 unless allowed, and
the message names a newer sdist-only release; offline, plus the real pyvips
case against PyPI in a clean bullseye root."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_VERIFY, VerifyError
from fcslim.resolve.index import Sources
from fcslim.verify.import_gate import gate_imports, module_owners, newer_without_wheel, requested_names

OWNERS = module_owners([("Demo-Pkg", "1.0", ["demo/__init__.py", "demo_pkg-1.0.dist-info/METADATA"]),
                        ("helper", "2.0", ["helper.py", "_helper_c.cpython-39-x86_64-linux-gnu.so"])])


def test_module_owners_and_requested_names():
    assert OWNERS["demo"].distribution == "Demo-Pkg" and OWNERS["helper"].version == "2.0"
    assert OWNERS["_helper_c"].distribution == "helper"
    assert requested_names(["Demo_Pkg>=1", "helper ; python_version<'3'", "not a requirement ("]) == {"demo-pkg",
                                                                                                       "helper"}


def test_requested_module_failing_raises_exit_8():
    with pytest.raises(VerifyError) as info:
        gate_imports({"demo": "ImportError: libfoo.so.1"}, OWNERS, {"demo-pkg"}, (), "debian11-python3.9", "root")
    assert info.value.exit_code == EXIT_VERIFY
    text = str(info.value)
    assert "demo (from Demo-Pkg 1.0): ImportError: libfoo.so.1" in text and "--allow-import-failure demo" in text


def test_dependencies_and_allowed_failures_are_warnings():
    warnings = gate_imports({"helper": "boom", "demo": "bang"}, OWNERS, {"demo-pkg"}, ("Demo_Pkg",), "p", "root")
    assert len(warnings) == 2 and any("allowed" in w and "demo" in w for w in warnings)
    assert gate_imports({}, OWNERS, {"demo-pkg"}, (), "p", "root") == []


def test_an_extra_module_missing_an_uninstalled_python_package_is_a_warning():
    """duckdb 2.0.1 ships adbc_driver_duckdb, which imports adbc_driver_manager
    (not a dependency of duckdb): duckdb itself imports, so the build goes on."""
    owners = module_owners([("duckdb", "2.0.1", ["duckdb/__init__.py", "_duckdb.cpython-311-x86_64-linux-gnu.so",
                                                 "adbc_driver_duckdb/__init__.py", "duckdb-stubs/__init__.pyi"]),
                            ("numpy", "2.4.6", ["numpy/__init__.py"])])
    missing = "ModuleNotFoundError: No module named 'adbc_driver_manager'"
    warnings = gate_imports({"adbc_driver_duckdb": missing}, owners, {"duckdb"}, (), "p", "root")
    assert len(warnings) == 1 and "needs the Python package adbc_driver_manager" in warnings[0]
    with pytest.raises(VerifyError, match="adbc_driver_duckdb"):  # duckdb fails too: nothing of it works
        gate_imports({"adbc_driver_duckdb": missing, "duckdb": "ImportError: libfoo.so.1"}, owners, {"duckdb"},
                     (), "p", "root")
    with pytest.raises(VerifyError, match="numpy"):  # installed yet missing: a broken bundle, not optional
        gate_imports({"adbc_driver_duckdb": "ModuleNotFoundError: No module named 'numpy.core'"}, owners,
                     {"duckdb"}, (), "p", "root")
    with pytest.raises(VerifyError):  # a library the target lacks is what the gate is for
        gate_imports({"adbc_driver_duckdb": "ImportError: libstdc++.so.6: cannot open shared object file"},
                     owners, {"duckdb"}, (), "p", "root")


def test_newer_release_without_a_wheel_is_named(tmp_path):
    for name in ("demo_pkg-1.0-py3-none-any.whl", "demo_pkg-2.0.tar.gz", "demo_pkg-3.0rc1.tar.gz"):
        (tmp_path / name).write_bytes(b"")
    sources = Sources(None, (), (str(tmp_path),), True)
    assert newer_without_wheel("demo-pkg", "1.0", sources) == "2.0"
    assert newer_without_wheel("demo-pkg", "2.0", sources) is None
    (tmp_path / "demo_pkg-2.0-py3-none-any.whl").write_bytes(b"")
    assert newer_without_wheel("demo-pkg", "1.0", sources) is None
    with pytest.raises(VerifyError, match=r"2\.0 exists only as an sdist"):
        (tmp_path / "demo_pkg-2.0-py3-none-any.whl").unlink()
        gate_imports({"demo": "x"}, OWNERS, {"demo-pkg"}, (), "p", "root", sources)


@pytest.mark.network
@pytest.mark.rootfs
@pytest.mark.slow
def test_pyvips_wheel_that_cannot_import_fails_the_build(tmp_path, bullseye_root):
    (tmp_path / "requirements.txt").write_text("pyvips\n")
    args = ["resolve", str(tmp_path / "requirements.txt"), "--runtime", "debian11-python3.9", "-q", "--no-slim"]
    failed = CliRunner().invoke(main, args + ["--output", str(tmp_path / "out")])
    assert failed.exit_code == EXIT_VERIFY, failed.output
    text = " ".join(failed.output.split())  # the error paragraph is wrapped to the terminal
    assert "pyvips (from pyvips 2.1.0)" in text and "exists only as an sdist" in text
    assert not (tmp_path / "out").exists()
    allowed = CliRunner().invoke(main, args + ["--output", str(tmp_path / "ok"), "--allow-import-failure", "pyvips"])
    assert allowed.exit_code == 0, allowed.output
    assert (tmp_path / "ok" / "pyvips").is_dir()
