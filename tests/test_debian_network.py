"""fcslim.debian.archive against the real Debian archive (deb.debian.org): the signed
Release, the indexes, a package's symlink chain, the errors for an unknown
soname and an architecture the release does not carry."""

from __future__ import annotations

import pytest

from fcslim.core.hashing import file_sha256 as sha256_file
from fcslim.debian.archive import DebianArchive, DebianRelease
from fcslim.debian.debfile import DebArchive
from fcslim.debian.errors import ArchitectureError, NoPackageError, SignatureError
from fcslim.debian.signatures import Trust
from fcslim.debian.versions import compare_versions
from fcslim.target.profile import load_profile

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def bullseye():
    return DebianRelease.for_profile(load_profile("debian11-python3.9"))


def test_release_is_signed_by_debian(bullseye):
    if not Trust().resolved_keyrings():
        pytest.fail("the host has no Debian archive keyring (apt-get install debian-archive-keyring)")
    release = bullseye.main.release
    assert release.authenticated, release.authentication
    assert "amd64" in release.architectures
    assert "main/Contents-amd64.gz" in release.entries


def test_locate_and_extract_libzbar(bullseye):
    location = bullseye.locate("libzbar.so.0")
    assert location.package.name == "libzbar0"
    assert location.path == "usr/lib/x86_64-linux-gnu/libzbar.so.0"
    deb = bullseye.download(location.package)
    assert sha256_file(deb) == location.package.sha256
    with DebArchive(deb) as archive:
        assert archive.control["Package"] == "libzbar0"
        real = archive.resolve(location.path)
        assert real.name != location.path and real.name.startswith("usr/lib/x86_64-linux-gnu/libzbar.so.0.")
        assert archive.read(location.path)[:4] == b"\x7fELF"
    # The security suite's newer build wins when there is one.
    glib = bullseye.locate("libglib-2.0.so.0").package
    main = bullseye.main.packages["libglib2.0-0"]
    assert compare_versions(glib.version, main.version) >= 0


def test_unknown_soname(bullseye):
    with pytest.raises(NoPackageError, match="libfcslim-no-such-library.so.7"):
        bullseye.locate("libfcslim-no-such-library.so.7")


def test_architecture_the_release_lacks():
    with pytest.raises(ArchitectureError, match="riscv64"):
        DebianArchive("http://deb.debian.org/debian", "bullseye", "riscv64").release
    # trixie is reachable and carries arm64
    assert "arm64" in DebianArchive("http://deb.debian.org/debian", "trixie", "arm64").release.architectures


def test_bookworm_and_its_security_suite_are_signed_and_verified():
    if not Trust().resolved_keyrings():
        pytest.fail("the host has no Debian archive keyring (apt-get install debian-archive-keyring)")
    bookworm = DebianRelease.for_profile(load_profile("debian12-python3.11"))
    location = bookworm.locate("libzbar.so.0")
    auth = bookworm.authentication()
    assert auth["bookworm"].startswith("signed") and auth["bookworm-security"].startswith("signed"), auth
    deb = bookworm.download(location.package)
    assert sha256_file(deb) == location.package.sha256
    with DebArchive(deb) as archive:
        assert archive.read(location.path)[:4] == b"\x7fELF"


def test_a_debian_mirror_is_not_trusted_with_a_foreign_keyring(tmp_path):
    # Debian's own mirror, checked against a keyring that lacks its keys, is refused
    empty = tmp_path / "empty.gpg"
    empty.write_bytes(b"")
    with pytest.raises(SignatureError, match="not in the trusted keyring|no signature gpgv accepts"):
        DebianArchive("http://deb.debian.org/debian", "bookworm", "amd64", trust=Trust((empty,))).release
