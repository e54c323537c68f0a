"""Verification that does not see the host (fcslim.verify.assembled): for a
runtime whose Debian release cannot be built here (FC python3.9 on Debian 9),
imports are checked in a bullseye root (CPython 3.9) with only the libraries
the runtime's image lists.  libzstd.so.1 is on this host and in bullseye's
minbase root but not in FC's Debian 9 image: a module that loads it imports
in the debian11 root and fails in the assembled one."""

from __future__ import annotations

import pytest

from fcslim.target.profile import load_profile
from fcslim.verify.assembled import base_release, ensure_assembled_root
from fcslim.verify.imports import verify_imports

pytestmark = [pytest.mark.network, pytest.mark.rootfs]


def test_base_release_follows_the_python_version():
    assert base_release(load_profile("fc-python3.9")) == "bullseye"
    assert base_release(load_profile("aws-python3.11")) == "bookworm"
    assert base_release(load_profile("fc-python3.10")) is None  # no reachable Debian has 3.10


def test_library_absent_from_the_image_fails_the_check(tmp_path, bullseye_root):
    (tmp_path / "zmod").mkdir()
    (tmp_path / "zmod" / "__init__.py").write_text("import ctypes\nZSTD = ctypes.CDLL('libzstd.so.1')\n")
    target = verify_imports(tmp_path, load_profile("fc-python3.9"), modules=["zmod"])
    assert target.scope == "assembled-root" and "only fc-debian9's system libraries" in target.where
    assert target.failed == ["zmod"] and "libzstd.so.1" in target.modules["zmod"].error
    assert "libpng12.so.0" in (target.reason or "")  # what the image has and the root cannot show
    same_release = verify_imports(tmp_path, load_profile("debian11-python3.9"), modules=["zmod"])
    assert same_release.ok  # bullseye's own image has it

    root = ensure_assembled_root(load_profile("fc-python3.9"))
    assert "libzstd.so.1" in root.removed and "libffi.so.7" in root.kept_for_interpreter
    assert not (root.path / "usr/lib/x86_64-linux-gnu/libzstd.so.1").exists()
    assert (bullseye_root / "usr/lib/x86_64-linux-gnu/libzstd.so.1").exists()  # the clean root is untouched
