"""fcslim.elf.debugstrip: debug sections' bytes removed, everything loaded kept (offline)."""

from __future__ import annotations

import ctypes
import subprocess

import pytest

from fcslim.elf.debugstrip import strip_debug
from fcslim.elf.facts import read_elf
from fcslim.elf.reader import ElfReader
from fcslim.slim.strip import elf_layout
from tests.support.elfbytes import ElfSpec, elf_bytes
from tests.support.readelf import readelf_facts
from tests.support.slim_trees import build_shared_object
from tests.support.tools import require_tool

SPEC = dict(needed=("libc.so.6",), soname="libx.so.1", runpath="$ORIGIN",
            version_needs=(("libc.so.6", ("GLIBC_2.17",)),), version_defs=(("libx.so.1",), ("X_1",)))


@pytest.fixture(scope="module")
def readelf() -> str:
    return require_tool("readelf", purpose="stripped files are checked with binutils' readelf")


def _loaded_end(path) -> int:
    with open(path, "rb") as handle:
        reader = ElfReader(handle, path.stat().st_size)
        return max(s.offset + s.filesz for s in reader.segments())


def _realignment_bound(path) -> int:
    with open(path, "rb") as handle:
        reader = ElfReader(handle, path.stat().st_size)
        return 7 + sum(max(1, s.addralign) - 1 for s in reader.sections())


def _readelf_clean(readelf: str, path) -> str:
    proc = subprocess.run([readelf, "-a", "-W", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and "Error" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    return proc.stdout


def test_gcc_built_library_loses_its_debug_bytes_and_still_loads(tmp_path, gcc, readelf):
    lib = build_shared_object(gcc, tmp_path / "_debug.so", debug=True)
    out = tmp_path / "stripped.so"
    before = elf_layout(lib)
    assert before.debug_bytes > 0
    assert strip_debug(lib, out) is None
    assert elf_layout(out).debug_bytes == 0 and elf_layout(out).segments == before.segments
    # The debug bytes are gone; what may be added back is the padding that
    # re-aligns each section moved down after them, and the section header
    # table's 8-byte alignment (the debug sections' sizes, and so the padding,
    # change with the build's paths, which gcc records in them).
    assert out.stat().st_size <= lib.stat().st_size - before.debug_bytes + _realignment_bound(lib)
    end = _loaded_end(lib)
    new, old = out.read_bytes()[:end], lib.read_bytes()[:end]
    assert new[:40] + new[48:] == old[:40] + old[48:]  # every loaded byte but e_shoff, which the loader never reads
    assert readelf_facts(readelf, out) == readelf_facts(readelf, lib)
    assert "NOBITS" in next(line for line in _readelf_clean(readelf, out).splitlines() if ".debug_info" in line)
    assert ctypes.CDLL(str(out)).answer() == 42


@pytest.mark.parametrize("elf_class", [32, 64])
@pytest.mark.parametrize("big_endian", [False, True])
def test_both_classes_and_byte_orders(tmp_path, readelf, elf_class, big_endian):
    source = tmp_path / "lib.so"
    source.write_bytes(elf_bytes(ElfSpec(elf_class=elf_class, big_endian=big_endian, machine=22 if big_endian else 3,
                                         debug=b"\x07" * 5000, **SPEC)))
    out = tmp_path / "out.so"
    assert strip_debug(source, out) is None
    assert source.stat().st_size - out.stat().st_size >= 5000
    _readelf_clean(readelf, out)
    assert readelf_facts(readelf, out) == readelf_facts(readelf, source)
    stripped, original = read_elf(out), read_elf(source)
    same = {"size": 0, "path": ""}
    assert stripped.error is None and stripped.to_dict() | same == original.to_dict() | same


def test_files_it_must_not_touch_are_left_with_the_reason(tmp_path, gcc):
    patchelf = require_tool("patchelf", purpose="a library patchelf rewrote")
    lib = build_shared_object(gcc, tmp_path / "_p.so", debug=True)
    subprocess.run([patchelf, "--set-rpath", "/x" * 600, str(lib)], check=True)  # adds a segment at the end
    assert "patchelf" in strip_debug(lib, tmp_path / "p.so")
    plain = build_shared_object(gcc, tmp_path / "_plain.so", debug=False)
    assert strip_debug(plain, tmp_path / "plain.so") == "no debug sections"
    cut = tmp_path / "cut.so"
    cut.write_bytes(build_shared_object(gcc, tmp_path / "_c.so", debug=True).read_bytes()[:600])
    assert "truncated" in strip_debug(cut, tmp_path / "c.so")
    for name in ("p.so", "plain.so", "c.so"):
        assert not (tmp_path / name).exists()
