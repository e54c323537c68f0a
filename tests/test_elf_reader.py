"""fcslim's ELF reader against binutils' readelf (offline).

The same files are read by :func:`fcslim.elf.facts.read_elf` and by
``readelf -h -d -V -W``: gcc-built x86_64 and i386 shared objects and
executables (RUNPATH, RPATH, SONAME, version needs and definitions), files
written byte by byte for both classes and byte orders (big-endian included)
and for tables only the section headers locate, and real libraries found on
this machine (the C library, libstdc++, CPython's own extension modules,
wheels' extension modules in the suite's uv cache).  readelf reads version
tables through section headers, fcslim through the dynamic section: two
independent routes to the same facts.
"""

from __future__ import annotations

import glob
import os
import random
import struct
import sys
import sysconfig
from pathlib import Path

import pytest

from fcslim.elf.dynamic import read_dynamic
from fcslim.elf.facts import ElfFile, machine_name, read_elf
from fcslim.elf.reader import ElfReader
from tests.support.elfbytes import ElfSpec, elf_bytes
from tests.support.elffiles import (
    MACHINES,
    BuildError,
    VersionRequirement,
    build_executable,
    build_shared_library,
)
from tests.support.readelf import readelf_facts
from tests.support.tools import missing, require_tool

SPEC = dict(
    needed=("libc.so.6", "libfoo.so.2"),
    soname="libx.so.1",
    runpath="$ORIGIN/../x.libs:/opt/lib",
    version_needs=(("libc.so.6", ("GLIBC_2.17", "GLIBC_2.2.5")), ("libfoo.so.2", ("FOO_1",))),
    version_defs=(("libx.so.1",), ("X_1.0",), ("X_2.0", "X_1.0")),
)


@pytest.fixture(scope="module")
def readelf() -> str:
    return require_tool("readelf", purpose="the ELF reader is compared with binutils' readelf")


def assert_same_as_readelf(readelf: str, path: Path) -> ElfFile:
    ours = read_elf(path)
    theirs = readelf_facts(readelf, path)
    assert ours.error is None, ours.error
    assert ours.elf_class == theirs.elf_class
    assert list(ours.needed) == theirs.needed
    assert ours.soname == theirs.soname
    assert list(ours.runpath) == theirs.runpath
    assert list(ours.rpath) == theirs.rpath
    assert [(lib, list(versions)) for lib, versions in ours.version_needs] == theirs.version_needs
    assert list(ours.version_defs) == theirs.version_defs
    return ours


@pytest.fixture(scope="module")
def built(tmp_path_factory, gcc) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("readelf")
    dep = build_shared_library(root / "libdep.so.1", "int dep(void) { return 1; }\n", soname="libdep.so.1",
                               define_versions=["DEP_1.0", "DEP_2.0"])
    files = {
        "dep": dep,
        "ext": build_shared_library(root / "_ext.so", "int dep(void); int f(void) { return dep(); }\n", link=[dep],
                                    needed=["libmissing.so.3"], runpath=["$ORIGIN/../pkg.libs", "$ORIGIN"]),
        "tool": build_executable(root / "tool", rpath=["$ORIGIN/../lib", "/opt/lib"]),
        "new": build_shared_library(root / "new.so",
                                    version_requirement=VersionRequirement("libstdc++.so.6", "GLIBCXX_3.4.99")),
    }
    return files


def test_gcc_built_x86_64_files_match_readelf(built, readelf):
    ext = assert_same_as_readelf(readelf, built["ext"])
    assert ext.runpath == ("$ORIGIN/../pkg.libs", "$ORIGIN") and ext.machine == "X86_64"
    assert ext.needed[:2] == ("libdep.so.1", "libmissing.so.3")
    assert dict(ext.version_needs)["libdep.so.1"] == ("DEP_2.0",)
    dep = assert_same_as_readelf(readelf, built["dep"])
    assert dep.version_defs[0] == "libdep.so.1" and {"DEP_1.0", "DEP_2.0"} <= set(dep.version_defs)
    tool = assert_same_as_readelf(readelf, built["tool"])
    assert tool.rpath == ("$ORIGIN/../lib", "/opt/lib") and tool.file_type in ("EXEC", "DYN")
    new = assert_same_as_readelf(readelf, built["new"])
    assert ("libstdc++.so.6", "GLIBCXX_3.4.99") in set(new.required_versions())


def test_gcc_built_i386_file_matches_readelf(tmp_path, gcc, readelf):
    flags = ("-m32", "-nostdlib")
    try:
        stub = build_shared_library(tmp_path / "libs32.so.1", "int s(void) { return 0; }\n", soname="libs32.so.1",
                                    define_versions=["S32_1"], cflags=flags)
        lib = build_shared_library(tmp_path / "m32.so", "int s(void); int f(void) { return s(); }\n", link=[stub],
                                   soname="libm32.so", runpath=["$ORIGIN/x"], cflags=flags)
    except BuildError as exc:
        missing(f"gcc cannot build i386 shared objects here ({exc}); apt-get install gcc")
    facts = assert_same_as_readelf(readelf, lib)
    assert (facts.machine, facts.elf_class) == ("I386", 32)
    assert facts.version_needs == (("libs32.so.1", ("S32_1",)),)
    assert assert_same_as_readelf(readelf, stub).version_defs == ("libs32.so.1", "S32_1")


@pytest.mark.parametrize("elf_class", [32, 64])
@pytest.mark.parametrize("big_endian", [False, True])
def test_both_classes_and_byte_orders(tmp_path, readelf, elf_class, big_endian):
    machine = {(32, False): 3, (64, False): 183, (32, True): 20, (64, True): 22}[(elf_class, big_endian)]
    path = tmp_path / "lib.so"
    path.write_bytes(elf_bytes(ElfSpec(elf_class=elf_class, big_endian=big_endian, machine=machine, **SPEC)))
    facts = assert_same_as_readelf(readelf, path)
    assert facts.machine == {3: "I386", 183: "AARCH64", 20: "PPC", 22: "S390"}[machine]
    assert facts.elf_class == elf_class
    assert facts.needed == SPEC["needed"] and facts.soname == "libx.so.1"
    assert facts.runpath == ("$ORIGIN/../x.libs", "/opt/lib")
    assert facts.version_needs == SPEC["version_needs"]
    assert facts.version_defs == ("libx.so.1", "X_1.0", "X_2.0", "X_1.0")


def test_tables_found_through_section_headers(tmp_path, readelf):
    """Addresses no PT_LOAD segment maps are found through the section headers."""
    path = tmp_path / "lib.so"
    path.write_bytes(elf_bytes(ElfSpec(load_segment=False, rpath="/r", **{**SPEC, "runpath": None})))
    facts = assert_same_as_readelf(readelf, path)
    assert facts.rpath == ("/r",) and facts.version_needs == SPEC["version_needs"]


@pytest.mark.parametrize("load_segment", [True, False])
def test_no_pt_dynamic_means_no_dynamic_section(tmp_path, readelf, load_segment):
    """Without PT_DYNAMIC the loader sees no dynamic section, whatever the
    section headers say (``readelf -d`` agrees; ``readelf -V`` lists version
    sections by section header, which the loader never reads)."""
    path = tmp_path / "lib.so"
    path.write_bytes(elf_bytes(ElfSpec(load_segment=load_segment, dynamic_segment=False, **SPEC)))
    facts = read_elf(path)
    theirs = readelf_facts(readelf, path)
    assert theirs.needed == [] and theirs.soname is None and theirs.version_needs
    assert facts.error is None
    assert facts.needed == () and facts.version_needs == () and facts.version_defs == () and facts.soname is None


def _real_libraries() -> list[Path]:
    found = []
    for name in ("libc.so.6", "libstdc++.so.6", "libz.so.1", "libgcc_s.so.1"):
        found += [Path(p) for p in sorted(glob.glob(f"/usr/lib/*/{name}") + glob.glob(f"/lib/*/{name}"))[:1]]
    dynload = sysconfig.get_path("platstdlib")
    found += sorted(Path(dynload, "lib-dynload").glob("*.so"))[:15] if dynload else []
    cache = os.environ.get("UV_CACHE_DIR")
    if cache:  # wheels the suite has installed before: numpy, pandas... when they are there
        wheels = [p for p in sorted(glob.glob(f"{cache}/archive-v0/*/*/*.so*")) if os.path.isfile(p)]
        found += [Path(p) for p in wheels[:: max(1, len(wheels) // 25)]]
    return found


def test_real_libraries_match_readelf(readelf):
    files = _real_libraries()
    if not files:
        missing(f"no shared library found on this machine to compare (looked for libc.so.6 and {sys.executable}'s "
                "lib-dynload)")
    for path in files:
        assert_same_as_readelf(readelf, path)


class _Counting:
    """A binary handle that counts the bytes read through it."""

    def __init__(self, handle):
        self.handle = handle
        self.bytes = 0

    def seek(self, offset: int) -> int:
        return self.handle.seek(offset)

    def read(self, n: int) -> bytes:
        data = self.handle.read(n)
        self.bytes += len(data)
        return data


def test_reads_a_few_kilobytes_of_a_big_library(tmp_path):
    """A library bigger than its tables is never read whole: the reader reads
    the header, the program headers and the dynamic tables only."""
    path = tmp_path / "big.so"
    blob = elf_bytes(ElfSpec(**SPEC))
    with open(path, "wb") as handle:  # the tables first, then 64 MiB of code (a hole)
        handle.write(blob)
        handle.truncate(64 << 20)
    with open(path, "rb") as raw:
        handle = _Counting(raw)
        dynamic = read_dynamic(ElfReader(handle, path.stat().st_size))  # type: ignore[arg-type]
    assert dynamic.needed == SPEC["needed"]
    assert handle.bytes < 8192


def _patched(blob: bytes, offset: int, value: bytes) -> bytes:
    return blob[:offset] + value + blob[offset + len(value):]


def _dynamic_entry_offset(blob: bytes, tag: int) -> int:
    at = blob.index(struct.pack("<qQ", tag, 0)[:8])
    assert at % 8 == 0
    return at


def test_malformed_tables_are_errors_not_exceptions(tmp_path):
    blob = elf_bytes(ElfSpec(**SPEC))
    strsz = _dynamic_entry_offset(blob, 10)  # DT_STRSZ: the string table shrinks to one byte
    cases = {
        "short-strtab": (_patched(blob, strsz + 8, struct.pack("<Q", 1)), "outside its string table"),
        "cut": (blob[: len(blob) * 3 // 4], "truncated"),
        "many-needs": (elf_bytes(ElfSpec(verneed_num=0xFFFFFFFF, **SPEC)), None),
        "latin-1": (blob.replace(b"libfoo.so.2", b"libf\xf6o.so.2"), "not UTF-8"),
    }
    for name, (data, word) in cases.items():
        path = tmp_path / f"{name}.so"
        path.write_bytes(data)
        facts = read_elf(path)
        if word is None:  # the last entry's vn_next of 0 ends the walk, whatever the count says
            assert facts.error is None and facts.version_needs == SPEC["version_needs"], name
        else:
            assert facts.error and word in facts.error, (name, facts.error)
            assert facts.machine == "X86_64", name


def test_corrupted_bytes_never_raise(tmp_path):
    """Random bytes anywhere in a file: an ElfFile comes back (with or without
    ``error``), never an exception, never a hang."""
    blob = elf_bytes(ElfSpec(**SPEC))
    rng = random.Random(12)
    path = tmp_path / "fuzz.so"
    for _ in range(400):
        data = bytearray(blob)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data[: rng.randrange(1, len(data) + 1)] if rng.random() < 0.2 else data))
        assert isinstance(read_elf(path), ElfFile)


def test_machine_names_are_the_established_ones():
    for name, value in MACHINES.items():
        assert machine_name(value) == name
    assert machine_name(0xBEEF) == f"EM_{0xBEEF}"


def test_segment_count_in_section_zero(tmp_path, readelf):
    """gABI extended numbering: e_phnum is PN_XNUM and section 0's sh_info
    holds the real count."""
    blob = bytearray(elf_bytes(ElfSpec(**SPEC)))
    phnum = struct.unpack_from("<H", blob, 0x38)[0]
    shoff = struct.unpack_from("<Q", blob, 0x28)[0]
    struct.pack_into("<H", blob, 0x38, 0xFFFF)
    struct.pack_into("<I", blob, shoff + 44, phnum)
    path = tmp_path / "xnum.so"
    path.write_bytes(bytes(blob))
    facts = assert_same_as_readelf(readelf, path)
    assert facts.needed == SPEC["needed"] and facts.version_defs == ("libx.so.1", "X_1.0", "X_2.0", "X_1.0")
