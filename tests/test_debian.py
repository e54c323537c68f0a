"""Offline tests of fcslim.debian: version order, deb822 and index parsing,
package choice, safe reading of hand-made (and hostile) .deb files in every
compression, and the archive against a local signed mirror (Release hashes,
package hashes, architecture, unknown releases, malformed mirror URLs).
Signatures and trust: test_debian_trust.py; caches: test_debian_cache.py."""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from fcslim.cache.store import Cache
from fcslim.debian.archive import DebianArchive, DebianRelease
from fcslim.debian.deb822 import licenses_from_copyright
from fcslim.debian import debfile
from fcslim.debian.debfile import DebArchive
from fcslim.debian.decompress import decompress
from fcslim.debian.errors import ArchitectureError, ChecksumError, NoPackageError
from fcslim.debian import indexes
from fcslim.debian.readahead import read_ahead
from fcslim.debian.indexes import parse_contents
from fcslim.debian.signatures import Trust
from fcslim.debian.sonames import rank_candidates, soname_package_stem
from fcslim.debian.versions import compare_versions
from fcslim.cli import main as cli_main
from fcslim.cli.fetch_cmd import fetch as fetch_command
from fcslim.core.errors import EXIT_DEBIAN, EXIT_INPUT, DebianError, InputError, UnsafeArchiveError

from tests.support.debian_mirror import (
    ar_archive,
    compress,
    dir_member,
    file_member,
    hardlink_member,
    library_members,
    make_deb,
    special_member,
    symlink_member,
)

ELF_BYTES = b"\x7fELF" + b"\x00" * 60


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))


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


@pytest.mark.parametrize("name", ["Contents-amd64.gz", "Contents-amd64.xz", "Contents-amd64"])
def test_lines_containing_reads_each_compression_across_blocks(tmp_path, monkeypatch, name):
    monkeypatch.setattr(indexes, "_BLOCK", {".gz": 7, ".xz": 7})  # lines and members cut across blocks
    monkeypatch.setattr(indexes, "_PLAIN_BLOCK", 7)
    first = b"usr/bin/zbarimg  graphics/zbar-tools\nusr/lib/libz.so.1  libs/zlib1g\n"
    second = b"usr/share/doc/a.sol  doc/a\nlib/libx.so.2  libs/libx2"  # last line without a newline
    pack = {".gz": gzip.compress, ".xz": lzma.compress}.get(Path(name).suffix, lambda data: data)
    path = tmp_path / name
    path.write_bytes(pack(first) + pack(second))  # two gzip members, two xz streams
    assert list(indexes.lines_containing(path, name, b".so")) == [
        b"usr/lib/libz.so.1  libs/zlib1g", b"usr/share/doc/a.sol  doc/a", b"lib/libx.so.2  libs/libx2"]
    whole = pack(first + second)
    if whole != first + second:
        path.write_bytes(whole[:-9])  # cut short
        with pytest.raises(EOFError):
            list(indexes.lines_containing(path, name, b".so"))


@pytest.mark.parametrize("name", ["Packages.xz", "Packages.gz", "Packages"])
def test_open_index_reads_ahead_the_lines_the_module_readers_give(tmp_path, monkeypatch, name):
    monkeypatch.setattr(indexes, "_BLOCK", {".gz": 5, ".xz": 5})  # characters and line ends cut across blocks
    monkeypatch.setattr(indexes, "_PLAIN_BLOCK", 5)
    # CRLF and CR line ends, two- and three-byte characters, a byte that is not UTF-8
    text = b"Package: a\r\nDescription: caf\xc3\xa9 \xe2\x98\x83\r\n\nPackage: b\rVersion: 1\n\xff\n"
    path = tmp_path / name
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(Path(name).suffix, open)
    with opener(path, "wb") as handle:
        handle.write(text)
    with opener(path, "rt", encoding="utf-8", errors="replace") as expected:
        want = list(expected)
    with indexes.open_index(path, name, text=True) as stream:
        assert list(stream) == want
    with indexes.open_index(path, name, text=False) as stream:
        assert stream.read() == text


def test_read_ahead_hands_over_errors_and_stops_when_closed():
    def failing():
        yield b"one"
        raise EOFError("cut short")

    reader = read_ahead(failing())
    assert next(reader) == b"one"
    with pytest.raises(EOFError, match="cut short"):
        next(reader)
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield b"x" * 10

    reader = read_ahead(endless())
    assert next(reader) == b"x" * 10
    reader.close()  # joins the producer, which stops within a block or two of the queue's depth
    assert len(produced) < 20


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


@pytest.mark.parametrize("compression", ["xz", "gz", "bz2", "zst", ""])
def test_decompression_is_size_guarded_in_every_format(compression):
    payload = b"\0" * (3 << 20)  # 3 MiB of zeros: a few KiB compressed
    packed = compress(payload, compression)
    out = io.BytesIO()
    assert decompress(io.BytesIO(packed), f"data.tar.{compression}".rstrip("."), out, 4 << 20, "test") == len(payload)
    assert out.getvalue() == payload
    with pytest.raises(UnsafeArchiveError, match="decompresses to more than 1 MiB") as info:
        decompress(io.BytesIO(packed), f"data.tar.{compression}".rstrip("."), io.BytesIO(), 1 << 20, "test")
    assert info.value.exit_code == EXIT_DEBIAN


def test_zstd_bomb_never_holds_more_than_a_step_in_memory():
    packed = io.BytesIO()
    with zstandard.ZstdCompressor(level=1).stream_writer(packed, closefd=False) as writer:
        for _ in range(512):
            writer.write(bytes(1 << 20))
    bomb = packed.getvalue()  # 512 MiB of zeros in ~16 KiB
    assert len(bomb) < 64 << 10
    written = io.BytesIO()
    with pytest.raises(UnsafeArchiveError):
        decompress(io.BytesIO(bomb), "data.tar.zst", written, 8 << 20, "bomb.deb")
    assert len(written.getvalue()) <= 8 << 20  # refused before anything past the limit was written


def test_zstd_frames_concatenated_and_cut_short():
    one, two = zstandard.ZstdCompressor().compress(b"a" * 1000), zstandard.ZstdCompressor().compress(b"b" * 10)
    out = io.BytesIO()
    decompress(io.BytesIO(one + two), "data.tar.zst", out, 1 << 20, "test")
    assert out.getvalue() == b"a" * 1000 + b"b" * 10
    for broken in (one[:-3], b"", one + b"garbage!"):
        with pytest.raises(DebianError, match="cannot be decompressed"):
            decompress(io.BytesIO(broken), "data.tar.zst", io.BytesIO(), 1 << 20, "test")


def test_deb_whose_data_is_a_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(debfile, "MAX_DATA_TAR_BYTES", 1 << 20)
    members = [file_member("./usr/lib/big", b"\0" * (2 << 20))]
    with pytest.raises(UnsafeArchiveError, match="decompression bomb"):
        with DebArchive(_deb(tmp_path, members, compression="zst")):
            pass


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


# -- an archive served over HTTP -------------------------------------------------------------


def _trust(key) -> Trust:
    return Trust((key.keyring,))


def test_locate_prefers_security_update_and_downloads_verified(debian_mirror, signing_key):
    release = DebianRelease(debian_mirror.url, "testrel", "amd64", security_mirror=debian_mirror.url,
                            trust=_trust(signing_key))
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


def test_corrupt_package_is_refused(debian_mirror, signing_key):
    release = DebianRelease(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key))
    package = release.locate("libzz.so.1").package
    pool = debian_mirror.root / package.filename
    pool.write_bytes(pool.read_bytes()[:-1] + b"X")
    with pytest.raises(ChecksumError) as info:
        release.download(package)
    assert info.value.exit_code == EXIT_DEBIAN and package.name in str(info.value)
    assert Cache("debian").entries() and not Cache("debian").get_file(package.sha256)  # nothing stored


def test_index_not_matching_release_is_refused(debian_mirror, signing_key):
    packages = debian_mirror.root / "dists/testrel/main/binary-amd64/Packages.xz"
    packages.write_bytes(lzma.compress(lzma.decompress(packages.read_bytes()) + b"\nPackage: evil\n"))
    archive = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key))
    with pytest.raises(ChecksumError, match="Packages.xz"):
        archive.packages


def test_architecture_not_in_release(debian_mirror, signing_key):
    debian_mirror.publish("testrel", architectures="i386 armhf")
    with pytest.raises(ArchitectureError, match="arm64") as info:
        DebianArchive(debian_mirror.url, "testrel", "arm64", trust=_trust(signing_key)).release
    assert info.value.exit_code == EXIT_DEBIAN


def test_unknown_release_names_the_archive_mirror(debian_mirror, signing_key):
    with pytest.raises(DebianError, match="archive.debian.org"):
        DebianArchive(debian_mirror.url, "buster", "amd64", trust=_trust(signing_key)).release


@pytest.mark.parametrize("url", ["ftp//nope", "ftp://mirror.example/debian", "http:///debian", "deb.debian.org"])
def test_malformed_mirror_url_is_bad_input(url):
    with pytest.raises(InputError, match="not an http") as info:
        DebianRelease(url, "bookworm", "amd64")
    assert info.value.exit_code == EXIT_INPUT and url in str(info.value)


def test_malformed_mirror_url_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(fetch_command, [str(tmp_path), "--debian-mirror", "ftp//nope"])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "ftp//nope" in result.output and "Traceback" not in result.output
    (tmp_path / "requirements.txt").write_text("alpha\n")
    (tmp_path / "links").mkdir()
    resolve = CliRunner().invoke(cli_main, ["resolve", str(tmp_path / "requirements.txt"), "-o", str(tmp_path / "out"),
                                            "--no-index", "-f", str(tmp_path / "links"), "--debian-mirror", "ftp//nope"])
    assert resolve.exit_code == EXIT_INPUT, resolve.output  # refused before anything is installed
    assert "ftp//nope" in resolve.output and not (tmp_path / "out").exists()
