"""A small Debian world for the fetch tests: real shared objects built with
gcc, a signed local mirror that ships them, and a profile pointing at it.

Test modules import the fixtures they use (``private_cache`` is autouse
wherever it is imported: each test gets its own cache directory).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from fcslim.target.model import DebianSource
from fcslim.target.profile import load_profile
from tests.support.debian_mirror import FakeMirror, library_members, make_signing_key
from tests.support.elffiles import build_shared_library
from tests.support.tools import require_tool

MULTIARCH = "usr/lib/x86_64-linux-gnu"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, gcc):
    """Real shared objects: libbar.so.2 <- libfoo.so.1 <- pkg/_ext.so, and
    stand-ins for libzbar.so.0 and libmagic.so.1."""
    out = tmp_path_factory.mktemp("elf")
    bar = build_shared_library(out / "libbar.so.2", "int bar(void){return 2;}\n", soname="libbar.so.2")
    foo = build_shared_library(out / "libfoo.so.1.2.3", "int bar(void); int foo(void){return bar();}\n",
                               soname="libfoo.so.1", link=[bar])
    ext = build_shared_library(out / "_ext.so", "int foo(void); int ext(void){return foo();}\n", link=[foo])
    zbar = build_shared_library(out / "libzbar.so.0", "int zbar_version(void){return 0;}\n", soname="libzbar.so.0")
    magic = build_shared_library(out / "libmagic.so.1", "int magic_open(int f){return f;}\n", soname="libmagic.so.1")
    return {"bar": bar, "foo": foo, "ext": ext, "zbar": zbar, "magic": magic, "dir": out}


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    require_tool("gpg", purpose="these tests sign a test mirror")
    require_tool("gpgv", purpose="these tests check a test mirror")
    signing = make_signing_key(tmp_path_factory.mktemp("key"))
    yield signing
    signing.close()


@pytest.fixture
def mirror(tmp_path, key, built):
    fake = FakeMirror(tmp_path / "mirror", key=key)
    fake.add("testrel", "libfoo1", "1.2.3-1", library_members(
        "libfoo1", f"{MULTIARCH}/libfoo.so.1.2.3", built["foo"].read_bytes(),
        {f"{MULTIARCH}/libfoo.so.1": "libfoo.so.1.2.3"}, license="LGPL-2.1+"), source="foo")
    fake.add("testrel", "libbar2", "2.0-3", library_members(
        "libbar2", f"{MULTIARCH}/libbar.so.2", built["bar"].read_bytes(), {}, license="MIT"), source="bar")
    fake.add("testrel", "libzbar0", "0.23-1", library_members(
        "libzbar0", f"{MULTIARCH}/libzbar.so.0.3.0", built["zbar"].read_bytes(),
        {f"{MULTIARCH}/libzbar.so.0": "libzbar.so.0.3.0"}), source="zbar")
    fake.add("testrel", "libmagic1", "1:5.39-3", library_members(
        "libmagic1", f"{MULTIARCH}/libmagic.so.1", built["magic"].read_bytes(), {}), source="file")
    fake.add("testrel", "libmagic-mgc", "1:5.39-3",
             library_members("libmagic-mgc", "usr/lib/file/magic.mgc", b"MAGIC-DATABASE", {}), source="file")
    fake.publish("testrel")
    fake.serve()
    yield fake
    fake.stop()


def profile_for(mirror_url: str):
    base = load_profile("debian11-python3.9")
    return dataclasses.replace(base, debian=DebianSource("testrel", "11", mirror_url, None))


def bundle_with(tmp_path: Path, built, *dists: str, ext: Path | None = None) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    shutil.copy(ext or built["ext"], bundle / "pkg" / "_ext.so")
    for dist in dists:
        info = bundle / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    return bundle
