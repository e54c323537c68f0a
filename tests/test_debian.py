"""Offline tests of fcslim.debian.archive: version order, index parsing, package
choice, the trust chain (signature, Release hashes, package hashes) against a
mirror served from a temporary directory, and safe reading of hand-made
hostile .deb files."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from fcslim.debian import archive as debian
from fcslim.debian.archive import (
    ArchitectureError,
    ArchiveUnreachableError,
    ChecksumError,
    DebArchive,
    DebianArchive,
    DebianRelease,
    NoPackageError,
    SignatureError,
    compare_versions,
    licenses_from_copyright,
    parse_contents,
    rank_candidates,
    soname_package_stem,
)
from fcslim.core.errors import EXIT_DEBIAN, EXIT_NETWORK, DebianError, UnsafeArchiveError

from .test_debian_support import (
    FakeMirror,
    ar_archive,
    dir_member,
    file_member,
    hardlink_member,
    library_members,
    make_deb,
    make_signing_key,
    special_member,
    symlink_member,
    unreachable_url,
)

ELF_BYTES = b"\x7fELF" + b"\x00" * 60


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory):
    if not shutil.which("gpg") or not shutil.which("gpgv"):
        pytest.fail("the signature tests need gpg and gpgv (apt-get install gpg gpgv)")
    return make_signing_key(tmp_path_factory.mktemp("key"))


# -- pure parsing ------------------------------------------------------------------


@pytest.mark.parametrize("a,b,expected", [
    ("1.0", "1.0", 0),
    ("1.0-1", "1.0-2", -1),
    ("1:1.0", "2.0", 1),
    ("1.0~rc1", "1.0", -1),
    ("2.66.8-1+deb11u8", "2.66.8-1+deb11u1", 1),
    ("2.66.8-1+deb11u10", "2.66.8-1+deb11u9", 1),
    ("1.0a", "1.0+", -1),
    ("1.0", "1.0.0", -1),
    ("0.23.90-1+deb11u1", "0.23.90-1", 1),
])
def test_compare_versions_follows_dpkg(a, b, expected):
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


def test_licenses_from_dep5_and_free_form():
    dep5 = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nLicense: LGPL-2.1+\n text\n\nFiles: a/*\nLicense: MIT\n\nFiles: b/*\nLicense: LGPL-2.1+\n")
    assert licenses_from_copyright(dep5) == "LGPL-2.1+, MIT"
    assert licenses_from_copyright("This package was debianized by someone.\nGPL.\n") == "see copyright"


def test_parse_contents_keeps_only_libraries():
    lines = [
        b"usr/lib/x86_64-linux-gnu/libzbar.so.0                     libs/libzbar0\n",
        b"usr/lib/x86_64-linux-gnu/libzbar.so.0.3.0                 libs/libzbar0\n",
        b"usr/lib/x86_64-linux-gnu/libzbar.so                       libdevel/libzbar-dev\n",
        b"usr/lib/debug/.build-id/ab/cdef.debug                     debug/libzbar0-dbgsym\n",
        b"usr/lib/python3/dist-packages/foo.cpython-39.so           python/python3-foo\n",
        b"usr/share/doc/libzbar0/libzbar.so.0.txt                   doc/libzbar0\n",
        b"usr/lib/x86_64-linux-gnu/blas/libblas.so.3                libs/libblas3,libs/libblas-alt\n",
        b"usr/bin/zbarimg                                           graphics/zbar-tools\n",
    ]
    parsed = parse_contents(lines)
    assert parsed["libzbar.so.0"] == [["usr/lib/x86_64-linux-gnu/libzbar.so.0", "libzbar0"]]
    assert parsed["libblas.so.3"] == [["usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "libblas3", "libblas-alt"]]
    assert "foo.cpython-39.so" not in parsed
    assert "libzbar.so.0.txt" not in parsed
    assert not any("debug" in row[0] for rows in parsed.values() for row in rows)


@pytest.mark.parametrize("soname,expected", [
    ("libzbar.so.0", ("libzbar0", "libzbar")),
    ("libgobject-2.0.so.0", ("libgobject-2.0-0", "libgobject")),
    ("libGL.so.1", ("libgl1", "libgl")),
    ("libjpeg.so.62", ("libjpeg62", "libjpeg")),
])
def test_soname_package_stem(soname, expected):
    assert soname_package_stem(soname) == expected


def test_rank_prefers_named_package_in_standard_dir():
    rows = [
        ["usr/lib/x86_64-linux-gnu/libzbar.so.0", "zbar-tools-extra"],
        ["usr/lib/x86_64-linux-gnu/libzbar.so.0", "libzbar0-dbg"],
        ["usr/lib/x86_64-linux-gnu/libzbar.so.0", "libzbar0"],
        ["usr/lib/x86_64-linux-gnu/special/libzbar.so.0", "libzbar0"],
        ["usr/lib/x86_64-linux-gnu/libzbar.so.0", "libzbar-dev"],
    ]
    ranked = rank_candidates("libzbar.so.0", rows, "amd64")
    assert ranked[0] == ("usr/lib/x86_64-linux-gnu/libzbar.so.0", "libzbar0")
    assert all(not p.endswith("-dbg") for _, p in ranked)
    assert ranked[-1][1] == "libzbar-dev"
    # the t64 rename of trixie counts as the named package
    t64 = rank_candidates("libfoo.so.1", [["usr/lib/x86_64-linux-gnu/libfoo.so.1", "foo-utils"],
                                          ["usr/lib/x86_64-linux-gnu/libfoo.so.1", "libfoo1t64"]], "amd64")
    assert t64[0][1] == "libfoo1t64"


# -- safe .deb reading ------------------------------------------------------------------


def _deb(tmp_path: Path, members, name="libx1", compression="xz") -> Path:
    path = tmp_path / f"{name}.deb"
    path.write_bytes(make_deb(name, "1.0", members, data_compression=compression))
    return path


@pytest.mark.parametrize("compression", ["xz", "gz", "bz2", "", "zst"])
def test_symlink_chain_resolves_inside_package(tmp_path, compression):
    if compression == "zst" and not shutil.which("zstd"):
        pytest.fail("zstd is needed for the .zst case")
    members = library_members("libx1", "usr/lib/x86_64-linux-gnu/libx.so.1.2.3", ELF_BYTES,
                              {"usr/lib/x86_64-linux-gnu/libx.so.1": "libx.so.1.2.3",
                               "usr/lib/x86_64-linux-gnu/libx.so": "/usr/lib/x86_64-linux-gnu/libx.so.1",
                               "lib64": "usr/lib/x86_64-linux-gnu"})
    members.append(hardlink_member("./usr/lib/x86_64-linux-gnu/libx-hard.so.1",
                                   "./usr/lib/x86_64-linux-gnu/libx.so.1.2.3"))
    with DebArchive(_deb(tmp_path, members, compression=compression)) as deb:
        assert deb.control["Package"] == "libx1"
        assert deb.resolve("usr/lib/x86_64-linux-gnu/libx.so.1").name == "usr/lib/x86_64-linux-gnu/libx.so.1.2.3"
        assert deb.read("usr/lib/x86_64-linux-gnu/libx.so").startswith(b"\x7fELF")  # absolute link: package root
        assert deb.read("lib64/libx.so.1") == ELF_BYTES  # a directory link in the middle of the path
        assert deb.read("usr/lib/x86_64-linux-gnu/libx-hard.so.1") == ELF_BYTES
        assert deb.resolve("usr/lib/x86_64-linux-gnu/libnothere.so.1") is None
        assert "MIT" in licenses_from_copyright(deb.copyright())


def test_symlink_to_missing_target_and_loops_do_not_resolve(tmp_path):
    members = [dir_member("./usr/"), dir_member("./usr/lib/"),
               symlink_member("./usr/lib/liba.so.1", "/etc/shadow"),
               symlink_member("./usr/lib/loop1", "loop2"), symlink_member("./usr/lib/loop2", "loop1")]
    with DebArchive(_deb(tmp_path, members)) as deb:
        assert deb.resolve("usr/lib/liba.so.1") is None  # never the host's /etc/shadow
        with pytest.raises(KeyError):
            deb.read("usr/lib/liba.so.1")
        assert deb.resolve("usr/lib/loop1") is None


HOSTILE = {
    "path traversal": [file_member("./usr/lib/../../../../tmp/evil.so.1", ELF_BYTES)],
    "absolute path": [file_member("/etc/cron.d/evil", b"* * * * * root sh\n")],
    "symlink escaping": [dir_member("./usr/"), dir_member("./usr/lib/"),
                         symlink_member("./usr/lib/libevil.so.1", "../../../../etc/passwd")],
    "hardlink escaping": [hardlink_member("./usr/lib/libevil.so.1", "../../etc/shadow")],
    "absolute hardlink": [hardlink_member("./usr/lib/libevil.so.1", "/etc/shadow")],
    "hardlink to nothing": [hardlink_member("./usr/lib/libevil.so.1", "./usr/lib/not-in-package")],
    "character device": [special_member("./dev/mem", tarfile.CHRTYPE)],
    "block device": [special_member("./dev/sda", tarfile.BLKTYPE)],
    "fifo": [special_member("./usr/lib/pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_refuse_the_whole_package(tmp_path, case):
    good = library_members("libx1", "usr/lib/x86_64-linux-gnu/libx.so.1", ELF_BYTES, {})
    with pytest.raises(UnsafeArchiveError) as info:
        with DebArchive(_deb(tmp_path, good + HOSTILE[case])):
            pass
    assert info.value.exit_code == EXIT_DEBIAN
    assert "libx1" in str(info.value)
    assert not (tmp_path / "tmp" / "evil.so.1").exists()


def test_hostile_ar_containers(tmp_path):
    data = make_deb("libx1", "1.0", [file_member("./a", b"x")])
    cases = {
        "slash in member name": ar_archive([("debian-binary", b"2.0\n"), ("../data.tar", b"")]),
        "truncated": data[: len(data) - 40],
        "bad header magic": data[:8] + data[8:66].replace(b"`\n", b"xx") + data[68:],
    }
    for name, blob in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.deb"
        path.write_bytes(blob)
        with pytest.raises(DebianError) as info:
            with DebArchive(path):
                pass
        assert info.value.exit_code == EXIT_DEBIAN, name
    not_deb = tmp_path / "plain.deb"
    not_deb.write_bytes(b"PK\x03\x04 not an ar file")
    with pytest.raises(DebianError, match="not a Debian package"):
        with DebArchive(not_deb):
            pass


# -- Release signatures -------------------------------------------------------------------


def test_clearsigned_release_verifies_and_tampering_is_caught(signing_key):
    text = b"Origin: Test\nSuite: x\nSHA256:\n 00 1 main/x\n"
    signed = signing_key.clearsign(text)
    body, auth = debian.verify_clearsigned(signed, signing_key.keyring, "test InRelease")
    assert auth.startswith("signed: ") and "Suite: x" in body
    tampered = signed.replace(b"Suite: x", b"Suite: y")
    with pytest.raises(SignatureError) as info:
        debian.verify_clearsigned(tampered, signing_key.keyring, "test InRelease")
    assert info.value.exit_code == EXIT_DEBIAN
    # signed by a key that is not in the keyring
    with pytest.raises(SignatureError):
        debian.verify_clearsigned(signed, Path("/usr/share/keyrings/debian-archive-keyring.gpg"), "test InRelease")


def test_without_keyring_release_is_marked_unauthenticated(signing_key, tmp_path):
    signed = signing_key.clearsign(b"Origin: Test\nSuite: x\n")
    body, auth = debian.verify_clearsigned(signed, None, "test InRelease")
    assert auth.startswith("unauthenticated") and body.startswith("Origin: Test")


# -- an archive served over HTTP -------------------------------------------------------------


@pytest.fixture
def mirror(tmp_path, signing_key):
    fake = FakeMirror(tmp_path / "mirror", key=signing_key)
    fake.add("testrel", "libzz1", "1.0-1",
             library_members("libzz1", "usr/lib/x86_64-linux-gnu/libzz.so.1.0.0", ELF_BYTES,
                             {"usr/lib/x86_64-linux-gnu/libzz.so.1": "libzz.so.1.0.0"}), source="zz")
    fake.add("testrel", "libzz-dev", "1.0-1",
             [symlink_member("./usr/lib/x86_64-linux-gnu/libzz.so", "libzz.so.1")], source="zz")
    fake.publish("testrel")
    fake.add("testrel-security", "libzz1", "1.0-1+sec1",
             library_members("libzz1", "usr/lib/x86_64-linux-gnu/libzz.so.1.0.0", ELF_BYTES + b"sec",
                             {"usr/lib/x86_64-linux-gnu/libzz.so.1": "libzz.so.1.0.0"}), source="zz")
    fake.publish("testrel-security", contents=False)
    fake.serve()
    yield fake
    fake.stop()


def test_locate_prefers_security_update_and_downloads_verified(mirror, signing_key):
    release = DebianRelease(mirror.url, "testrel", "amd64", security_mirror=mirror.url, keyring=signing_key.keyring)
    location = release.locate("libzz.so.1")
    assert location.package.name == "libzz1"
    assert location.package.version == "1.0-1+sec1" and location.package.suite == "testrel-security"
    assert location.path == "usr/lib/x86_64-linux-gnu/libzz.so.1"
    with DebArchive(release.download(location.package)) as deb:
        assert deb.read(location.path) == ELF_BYTES + b"sec"
    auth = release.authentication()
    assert auth["testrel"].startswith("signed") and auth["testrel-security"].startswith("signed")
    with pytest.raises(NoPackageError, match="libnothing.so.3"):
        release.locate("libnothing.so.3")


def test_corrupt_package_is_refused(mirror, signing_key):
    release = DebianRelease(mirror.url, "testrel", "amd64", keyring=signing_key.keyring)
    package = release.locate("libzz.so.1").package
    pool = mirror.root / package.filename
    pool.write_bytes(pool.read_bytes()[:-1] + b"X")
    with pytest.raises(ChecksumError) as info:
        release.download(package)
    assert info.value.exit_code == EXIT_DEBIAN and package.name in str(info.value)


def test_index_not_matching_release_is_refused(mirror, signing_key):
    packages = mirror.root / "dists/testrel/main/binary-amd64/Packages.xz"
    import lzma
    packages.write_bytes(lzma.compress(lzma.decompress(packages.read_bytes()) + b"\nPackage: evil\n"))
    archive = DebianArchive(mirror.url, "testrel", "amd64", keyring=signing_key.keyring)
    with pytest.raises(ChecksumError, match="Packages.xz"):
        archive.packages


def test_bad_signature_on_mirror_is_refused(mirror, signing_key):
    inrelease = mirror.root / "dists/testrel/InRelease"
    inrelease.write_bytes(inrelease.read_bytes().replace(b"Origin: Test", b"Origin: Evil"))
    with pytest.raises(SignatureError):
        DebianArchive(mirror.url, "testrel", "amd64", keyring=signing_key.keyring).release


def test_release_without_inrelease_uses_release_file(mirror, signing_key):
    mirror.publish("testrel", sign=False)
    archive = DebianArchive(mirror.url, "testrel", "amd64", keyring=signing_key.keyring)
    assert archive.release.authentication == "unauthenticated: the mirror publishes no Release.gpg"
    assert "libzz1" in archive.packages


def test_architecture_not_in_release(mirror, signing_key):
    mirror.publish("testrel", architectures="i386 armhf")
    with pytest.raises(ArchitectureError, match="arm64") as info:
        DebianArchive(mirror.url, "testrel", "arm64", keyring=signing_key.keyring).release
    assert info.value.exit_code == EXIT_DEBIAN


def test_unknown_release_names_the_archive_mirror(mirror, signing_key):
    with pytest.raises(DebianError, match="archive.debian.org"):
        DebianArchive(mirror.url, "buster", "amd64", keyring=signing_key.keyring).release


def test_unreachable_mirror_uses_cache_then_fails_without(mirror, signing_key, tmp_path, monkeypatch):
    first = DebianRelease(mirror.url, "testrel", "amd64", keyring=signing_key.keyring)
    package = first.locate("libzz.so.1").package
    url = mirror.url
    mirror.stop()
    again = DebianRelease(url, "testrel", "amd64", keyring=signing_key.keyring)
    with pytest.warns(UserWarning, match="cached"):
        assert again.locate("libzz.so.1").package == package
    assert again.main.release.from_cache and any("cached" in w for w in again.warnings)
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(ArchiveUnreachableError) as info:
        DebianRelease(unreachable_url(), "testrel", "amd64", keyring=signing_key.keyring).locate("libzz.so.1")
    assert info.value.exit_code == EXIT_NETWORK


def test_indexes_are_cached_by_hash_and_refetched_when_release_changes(mirror, signing_key):
    archive = DebianArchive(mirror.url, "testrel", "amd64", keyring=signing_key.keyring)
    assert set(archive.packages) == {"libzz1", "libzz-dev"} and "libyy.so.2" not in archive.contents
    mirror.add("testrel", "libyy2", "2.0-1", library_members("libyy2", "usr/lib/x86_64-linux-gnu/libyy.so.2",
                                                            ELF_BYTES, {}))
    mirror.publish("testrel")
    fresh = DebianArchive(mirror.url, "testrel", "amd64", keyring=signing_key.keyring)
    assert "libyy2" in fresh.packages and "libyy.so.2" in fresh.contents
    blobs = list((fresh.cache_dir / "blobs").rglob("*"))
    assert sum(1 for b in blobs if b.is_file()) >= 4  # old and new Packages and Contents
