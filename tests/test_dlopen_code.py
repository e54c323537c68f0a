"""Libraries opened by a literal name in installed code (fcslim.elf.dlopen_code
and fcslim.fetch.codeneeds), offline: the ast reading, the name forms, and a
fetch from the signed test mirror driven only by what the code says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fcslim.elf.dlopen_code import classify, match_stem, names_in_source, scan_code
from fcslim.debian.signatures import Trust
from fcslim.fetch.closure import fetch_missing

from tests.support.fetch_world import built, key, mirror, private_cache, profile_for  # noqa: F401  (fixtures)

SOURCE = b'''
import ctypes, ctypes.util
from cffi import FFI
lib = ctypes.cdll.LoadLibrary("libgs.so")
path = ctypes.util.find_library("zbar")
vips = FFI().dlopen("libvips.so.42")
exact = ctypes.CDLL("libportaudio.so.2")
win = ctypes.windll.LoadLibrary("gs.dll")
mac = ctypes.CDLL("libfoo.dylib")
libc = ctypes.CDLL("libc.so.6")
m = ctypes.util.find_library("m")
name = "x"
dynamic = ctypes.CDLL(name)
absolute = ctypes.CDLL("/usr/lib/libz.so.1")
'''


def test_names_in_source_keeps_linux_literals_only():
    found = {(c.name, c.call, c.soname, c.stem) for c in names_in_source(SOURCE, "pkg/mod.py")}
    assert found == {
        ("libgs.so", "LoadLibrary", None, "libgs"),
        ("zbar", "find_library", None, "libzbar"),
        ("libvips.so.42", "dlopen", "libvips.so.42", "libvips"),
        ("libportaudio.so.2", "CDLL", "libportaudio.so.2", "libportaudio"),
    }
    assert all(c.where.startswith("pkg/mod.py:") for c in names_in_source(SOURCE, "pkg/mod.py"))
    assert names_in_source(b"def broken(:\n", "x.py") == []


def test_classify_and_match_stem():
    assert classify("gobject-2.0") == (None, "libgobject-2.0")
    assert match_stem("libgobject-2.0", ["libgobject-2.0.so.0", "libgobject-2.0.so"]) == "libgobject-2.0.so.0"
    assert classify("libc.so.6") is None and classify("libpython3.9.so") is None
    assert classify("libgs.so.9") == ("libgs.so.9", "libgs")
    assert classify("python3.9") is None and classify("pthread") is None
    assert match_stem("libgs", ["libgs.so", "libgs.so.9.53", "libgs.so.9", "libgsl.so.25"]) == "libgs.so.9"
    assert match_stem("libgs", ["libgsl.so.25"]) is None


def _with_code(bundle: Path, dist: str, source: str) -> None:
    package = bundle / dist
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source)
    info = bundle / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"{dist}/__init__.py,,\n{dist}-1.0.dist-info/METADATA,,\n")


def test_scan_code_reads_record_listed_files(tmp_path):
    _with_code(tmp_path, "fooclient", "import ctypes.util\nctypes.util.find_library('foo')\n")
    (tmp_path / "stray.py").write_text("import ctypes\nctypes.CDLL('libstray.so.1')\n")  # no distribution
    scanned = scan_code(tmp_path)
    assert list(scanned) == ["fooclient"] and scanned["fooclient"][0].stem == "libfoo"
    assert scan_code(tmp_path, skip=["fooclient"]) == {}


def test_scan_code_leaves_windows_system_libraries_out(tmp_path):
    # pandas' clipboard on Windows: looking "msvcrt" up in Debian downloaded and
    # parsed a whole Contents index on a cold cache, for a name no Linux has
    _with_code(tmp_path, "clip", "import ctypes\nmsvcrt = ctypes.CDLL('msvcrt')\nk = ctypes.CDLL('kernel32')\n"
                                 "z = ctypes.CDLL('libzbar.so.0')\n")
    assert [c.name for c in scan_code(tmp_path)["clip"]] == ["libzbar.so.0"]


def test_fetch_follows_what_the_code_opens(tmp_path, mirror, key):
    bundle = tmp_path / "bundle"
    _with_code(bundle, "fooclient", "import ctypes, ctypes.util\n"
               "LIB = ctypes.CDLL(ctypes.util.find_library('foo'))\n"
               "OTHER = ctypes.util.find_library('nosuchlib')\n")
    result = fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)))
    fetched = {f.soname: f for f in result.fetched}
    assert set(fetched) == {"libfoo.so.1", "libbar.so.2"}  # and libfoo's own need
    assert fetched["libfoo.so.1"].needed_by == ("code:fooclient",)
    assert result.code_needs == {"fooclient": ["libfoo.so.1"]}
    assert list(result.code_unresolved) == ["fooclient"] and "nosuchlib" in result.code_unresolved["fooclient"][0]
    assert any("nosuchlib" in w for w in result.warnings)
    assert result.hooks == ["sitecustomize.py"]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(bundle), "LD_LIBRARY_PATH": str(bundle / "lib")}
    out = subprocess.run([sys.executable, "-c", "import fooclient; print(fooclient.LIB._name)"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == bundle / "lib" / "libfoo.so.1"
