"""The Debian caches heal themselves (offline, against the local signed
mirror): every namespace's entries are corrupted in place (same size,
truncated, undecodable) and the next run discards and refetches or rebuilds
them instead of failing; indexes are cached by hash; an unreachable mirror
falls back to what is cached; the cache verbs see the Debian namespaces."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fcslim.cache.store import Cache, clean_namespace, usage
from fcslim.core.errors import EXIT_NETWORK
from fcslim.debian.archive import DebianArchive, DebianRelease
from fcslim.debian.debfile import DebArchive
from fcslim.debian.errors import ArchiveUnreachableError
from fcslim.debian.signatures import Trust
from fcslim.debian.store import BLOB_NAMESPACE, INDEX_NAMESPACE, DebianStore

from .conftest import DEB_ELF
from tests.support.debian_mirror import library_members, unreachable_url


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))


def _release(mirror_url: str, key) -> DebianRelease:
    return DebianRelease(mirror_url, "testrel", "amd64", trust=Trust((key.keyring,)))


def _damage(cache: Cache, key: str, how: str) -> Path:
    """Corrupt the file of entry ``key`` in place."""
    data = cache.entry_dir(key) / "data"
    raw = bytearray(data.read_bytes())
    if how == "flip":  # same size, one byte changed
        raw[len(raw) // 2] ^= 0xFF
    elif how == "truncate":
        raw = raw[: len(raw) // 2]
    elif how == "zero":
        raw = bytearray(len(raw))
    os.chmod(data, 0o644)
    data.write_bytes(bytes(raw))
    return data


def _entry_keys(namespace: str) -> set[str]:
    return {e.key for e in Cache(namespace).entries()}


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_corrupted_deb_is_refetched(debian_mirror, signing_key, how):
    release = _release(debian_mirror.url, signing_key)
    package = release.locate("libzz.so.1").package
    first = release.download(package)
    _damage(Cache(BLOB_NAMESPACE, kind="blob"), package.sha256, how)
    again = _release(debian_mirror.url, signing_key).download(package)
    with DebArchive(again) as deb:
        assert deb.read("usr/lib/x86_64-linux-gnu/libzz.so.1") == DEB_ELF
    assert again == first  # the same entry, healed


def test_corrupted_deb_with_the_mirror_down_is_a_network_error_not_a_bad_package(debian_mirror, signing_key):
    release = _release(debian_mirror.url, signing_key)
    package = release.locate("libzz.so.1").package
    release.download(package)
    _damage(Cache(BLOB_NAMESPACE, kind="blob"), package.sha256, "flip")
    url = debian_mirror.url
    debian_mirror.stop()
    offline = _release(url, signing_key)
    assert offline.locate("libzz.so.1").package == package  # indexes from the cache
    with pytest.raises(Exception) as info:
        offline.download(package)
    assert info.value.exit_code == EXIT_NETWORK  # the corrupt copy is gone, not reused


@pytest.mark.parametrize("how", ["flip", "truncate", "zero"])
def test_corrupted_parsed_indexes_are_rebuilt(debian_mirror, signing_key, how):
    release = _release(debian_mirror.url, signing_key)
    expected = release.locate("libzz.so.1")
    parsed = _entry_keys(INDEX_NAMESPACE)
    assert len(parsed) == 3  # the Release, the parsed Packages and the parsed Contents
    for key in parsed:
        _damage(Cache(INDEX_NAMESPACE), key, how)
    assert _release(debian_mirror.url, signing_key).locate("libzz.so.1") == expected
    assert _entry_keys(INDEX_NAMESPACE) == parsed  # discarded and written again


def test_parsed_index_that_does_not_decode_is_rebuilt(debian_mirror, signing_key):
    archive = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=Trust((signing_key.keyring,)))
    entry = archive.index_entry("main/binary-amd64/Packages.xz")
    store = DebianStore()
    names = set(archive.packages)
    # entries whose digest is right but whose content is not a parsed map (an
    # older layout, or a bug): not gzip, gzip of garbage, a JSON list
    for bad in (b"not gzip at all", gzip.compress(b"{truncated"), gzip.compress(b"[1, 2]")):
        store.indexes.put_file(store.parsed_key("packages", entry.sha256), bad)
        again = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=Trust((signing_key.keyring,)))
        assert set(again.packages) == names
        assert isinstance(store.load_parsed("packages", entry.sha256), dict)


def test_corrupted_raw_indexes_are_refetched(debian_mirror, signing_key):
    release = _release(debian_mirror.url, signing_key)
    expected = release.locate("libzz.so.1")
    blobs = Cache(BLOB_NAMESPACE, kind="blob")
    indexes = [release.main.index_entry("main/binary-amd64/Packages.xz"),
               release.main.index_entry("main/Contents-amd64.gz")]
    for entry in indexes:
        _damage(blobs, entry.sha256, "flip")
    for key in _entry_keys(INDEX_NAMESPACE):  # force a parse from the raw files
        Cache(INDEX_NAMESPACE).discard(key)
    assert _release(debian_mirror.url, signing_key).locate("libzz.so.1") == expected
    for entry in indexes:
        assert blobs.get_file(entry.sha256) is not None


def test_corrupted_cached_release_is_refetched_or_reported(debian_mirror, signing_key):
    _release(debian_mirror.url, signing_key).locate("libzz.so.1")
    store = DebianStore()
    key = store.release_key(debian_mirror.url, "testrel")
    _damage(store.indexes, key, "flip")
    assert _release(debian_mirror.url, signing_key).main.release.authenticated  # fetched again
    assert store.load_release(debian_mirror.url, "testrel") is not None
    _damage(store.indexes, key, "truncate")
    url = debian_mirror.url
    debian_mirror.stop()
    with pytest.raises(ArchiveUnreachableError) as info:
        _release(url, signing_key).main.release
    assert info.value.exit_code == EXIT_NETWORK and "nothing is cached" in str(info.value)


def test_indexes_are_cached_by_hash_and_refetched_when_release_changes(debian_mirror, signing_key):
    archive = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=Trust((signing_key.keyring,)))
    assert set(archive.packages) == {"libzz1", "libzz-dev"} and "libyy.so.2" not in archive.contents
    debian_mirror.add("testrel", "libyy2", "2.0-1",
                      library_members("libyy2", "usr/lib/x86_64-linux-gnu/libyy.so.2", DEB_ELF, {}))
    debian_mirror.publish("testrel")
    fresh = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=Trust((signing_key.keyring,)))
    assert "libyy2" in fresh.packages and "libyy.so.2" in fresh.contents
    assert len(_entry_keys(BLOB_NAMESPACE)) == 4  # old and new Packages and Contents


def test_unreachable_mirror_uses_cache_then_fails_without(debian_mirror, signing_key, tmp_path, monkeypatch):
    package = _release(debian_mirror.url, signing_key).locate("libzz.so.1").package
    url = debian_mirror.url
    debian_mirror.stop()
    again = _release(url, signing_key)
    assert again.locate("libzz.so.1").package == package
    assert again.main.release.from_cache and any("cached" in w for w in again.warnings)
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(ArchiveUnreachableError) as info:
        _release(unreachable_url(), signing_key).locate("libzz.so.1")
    assert info.value.exit_code == EXIT_NETWORK


def test_cache_verbs_see_the_debian_namespaces(debian_mirror, signing_key, tmp_path):
    legacy = tmp_path / "cache" / "debian" / "blobs" / "ab"
    legacy.mkdir(parents=True)
    (legacy / "old-blob").write_bytes(b"x" * 100)  # fcslim 0.1's own layout
    release = _release(debian_mirror.url, signing_key)
    release.download(release.locate("libzz.so.1").package)
    assert not legacy.parent.exists()
    counted = {u.name: u.entries for u in usage()}
    assert counted["debian"] == 3 and counted["debian-index"] == 3  # Packages, Contents, .deb; Release + 2 parsed
    assert clean_namespace("debian", older_than=3600) == 0  # everything is fresh
    old = time.time() - 7200
    for entry in Cache("debian", kind="blob").entries():
        os.utime(entry.path.parent / "meta.json", (old, old))
    assert clean_namespace("debian", older_than=3600) > 0
    assert Cache("debian", kind="blob").entries() == []
    assert release.main.download(release.locate("libzz.so.1").package).is_file()  # fetched again


def test_a_deb_being_read_is_not_cleaned_away(debian_mirror, signing_key):
    release = _release(debian_mirror.url, signing_key)
    package = release.locate("libzz.so.1").package
    blobs = Cache(BLOB_NAMESPACE, kind="blob")
    with release.held(package) as path:
        # another process's `fcslim cache clean` meanwhile
        subprocess.run([sys.executable, "-m", "fcslim", "cache", "clean", "debian"], check=True,
                       capture_output=True)
        with DebArchive(path) as deb:
            assert deb.read("usr/lib/x86_64-linux-gnu/libzz.so.1") == DEB_ELF
        assert blobs.get_file(package.sha256) == path
    subprocess.run([sys.executable, "-m", "fcslim", "cache", "clean", "debian"], check=True, capture_output=True)
    assert blobs.get_file(package.sha256) is None
