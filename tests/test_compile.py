"""Hash-based pycs for the target's exact Python."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from fcslim.verify.bytecode import compile_bytecode
from fcslim.target.profile import load_profile

from tests.support.slim_trees import host_profile


def _tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("from pkg.sub import mod\nVALUE = mod.X\n")
    (root / "pkg" / "sub" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "mod.py").write_text("X = 7\n")
    (root / "pkg" / "py2only.py").write_text("print 'hello'\n")
    (root / "pkg-1.dist-info").mkdir()
    (root / "pkg-1.dist-info" / "helper.py").write_text("")
    return root


def _flags(pyc: Path) -> int:
    data = pyc.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    return int.from_bytes(data[4:8], "little")


def test_checked_hash_pycs_in_pycache(tmp_path):
    root = _tree(tmp_path)
    result = compile_bytecode(root, host_profile(), python=sys.executable)
    tag = sys.implementation.cache_tag
    assert result.compiled and result.cache_tag == tag and result.files == 3
    assert result.failed == ["pkg/py2only.py"]
    assert _flags(root / "pkg" / "sub" / "__pycache__" / f"mod.{tag}.pyc") == 0b11  # hash-based, checked
    assert not (root / "pkg-1.dist-info" / "__pycache__").exists()
    # The code object names the file where the runtime will see it.
    import marshal
    code = marshal.loads((root / "pkg" / "sub" / "__pycache__" / f"mod.{tag}.pyc").read_bytes()[16:])
    assert code.co_filename == "/var/task/pkg/sub/mod.py"


def test_drop_sources_imports_sourceless(tmp_path):
    root = _tree(tmp_path)
    backup = tmp_path / "backup"
    result = compile_bytecode(root, host_profile(), python=sys.executable, drop_sources=True, backup_dir=backup)
    assert result.invalidation_mode == "unchecked-hash" and result.sources_removed == 3
    assert not (root / "pkg" / "sub" / "mod.py").exists() and (root / "pkg" / "sub" / "mod.pyc").exists()
    assert (backup / "pkg" / "sub" / "mod.py").exists()
    assert (root / "pkg" / "py2only.py").exists()  # did not compile: keeps its source
    out = subprocess.run([sys.executable, "-S", "-B", "-c", "import pkg; print(pkg.VALUE)"], cwd=root,
                         capture_output=True, text=True)
    assert out.stdout.strip() == "7", out.stderr


def test_no_interpreter_is_reported(tmp_path, monkeypatch):
    from fcslim.verify import interpreters
    monkeypatch.setattr(interpreters, "candidate_tiers", lambda profile: iter([[], []]))
    result = compile_bytecode(_tree(tmp_path), load_profile("fc-python3.10") if sys.version_info[:2] != (3, 10)
                              else load_profile("aws-python3.9"))
    assert not result.compiled and "no CPython" in result.reason


@pytest.mark.rootfs
def test_compile_in_bullseye_root_for_python39(tmp_path, bullseye_root):
    root = _tree(tmp_path)
    result = compile_bytecode(root, load_profile("debian11-python3.9"))
    assert result.compiled and result.cache_tag == "cpython-39" and result.python.startswith("3.9")
    pyc = root / "pkg" / "sub" / "__pycache__" / "mod.cpython-39.pyc"
    assert pyc.read_bytes()[:4] == bytes.fromhex("610d0d0a")  # CPython 3.9's magic number
