"""The content-addressed cache: keys, atomic entries, integrity, locks, cleaning."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cache import fsops, keys, locks
from fcslim.cache.store import Cache, CacheIntegrityError, cache_key
from tests.support.trees import snapshot

CTX = multiprocessing.get_context("fork")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tree(top: Path) -> Path:
    (top / "pkg" / "sub").mkdir(parents=True)
    (top / "pkg" / "__init__.py").write_text("x = 1\n")
    (top / "pkg" / "sub" / "data.bin").write_bytes(os.urandom(5000))
    (top / "pkg" / "tool.sh").write_text("#!/bin/sh\n")
    (top / "pkg" / "tool.sh").chmod(0o755)
    (top / "lib").mkdir()
    (top / "lib" / "libz.so.1.2.13").write_bytes(b"\x7fELF" + os.urandom(300))
    (top / "lib" / "libz.so.1").symlink_to("libz.so.1.2.13")
    (top / "empty").mkdir()
    return top


# ---------------------------------------------------------------- keys


def test_cache_key_is_canonical_and_sensitive():
    a = cache_key({"b": 1, "a": [1, 2]}, "profile", {"x", "y"})
    assert a == cache_key({"a": [1, 2], "b": 1}, "profile", {"y", "x"})
    assert len(a) == 64 and int(a, 16) >= 0
    assert a != cache_key({"b": 1, "a": [2, 1]}, "profile", {"x", "y"})
    assert a != cache_key({"b": 1, "a": [1, 2]}, "profile2", {"x", "y"})
    assert cache_key(Path("/a/b")) == cache_key("/a/b")
    assert cache_key(b"abc") != cache_key(b"abd")


def test_cache_key_mixes_in_fcslim_version(monkeypatch):
    before = cache_key("same")
    monkeypatch.setattr(keys, "__version__", "999.0")
    assert cache_key("same") != before


def test_cache_key_refuses_unknown_objects():
    with pytest.raises(TypeError):
        cache_key(object())


def test_root_comes_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "c"))
    c = Cache("debian")
    c.put_file("k1", b"x")
    assert (tmp_path / "c" / "debian").is_dir()
    assert (tmp_path / "c" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


# ---------------------------------------------------------------- file entries


def test_put_get_file_from_bytes_path_and_stream(tmp_path):
    c = Cache("slim", tmp_path)
    assert c.get_file("a1") is None
    assert c.put_file("a1", b"one").read_bytes() == b"one"
    src = tmp_path / "src.bin"
    src.write_bytes(b"two" * 1000)
    assert c.put_file("a2", src).read_bytes() == b"two" * 1000
    assert src.exists()
    with open(src, "rb") as stream:
        c.put_file("a3", stream)
    assert c.get_file("a3").read_bytes() == b"two" * 1000
    moved = c.put_file("a4", src, move=True)
    assert not src.exists() and moved.read_bytes() == b"two" * 1000
    assert {e.key for e in c.entries()} == {"a1", "a2", "a3", "a4"}
    assert all(e.kind == "file" for e in c.entries())


def test_put_replaces_existing_entry(tmp_path):
    c = Cache("slim", tmp_path)
    c.put_file("k", b"old")
    c.put_file("k", b"new")
    assert c.get_file("k").read_bytes() == b"new"
    assert len(c.entries()) == 1
    assert [p.name for p in (tmp_path / "slim" / "k").iterdir()] == ["k"]  # no .old- left


def test_put_file_checks_sha256_and_stores_nothing_on_mismatch(tmp_path):
    c = Cache("debian", tmp_path)
    with pytest.raises(CacheIntegrityError):
        c.put_file("k", b"payload", sha256=sha(b"other"))
    assert c.get_file("k") is None
    assert c.entries() == []
    assert not any(".tmp-" in p.name for p in (tmp_path / "debian").rglob("*"))
    assert c.put_file("k", b"payload", sha256=sha(b"payload").upper()).read_bytes() == b"payload"


def test_get_file_with_sha256_discards_mismatching_bytes(tmp_path):
    c = Cache("debian", tmp_path)
    path = c.put_file("idx", b"Packages v1")
    assert c.get_file("idx", sha256=sha(b"Packages v1")) == path
    assert c.get_file("idx", sha256=sha(b"Packages v2")) is None
    assert c.get_file("idx") is None  # discarded, not just hidden


def test_blob_namespace_verifies_content_against_key(tmp_path):
    c = Cache("debs", tmp_path, kind="blob")
    data = b"a .deb" * 100
    with pytest.raises(ValueError):
        c.put_file("not-a-hash", data)
    with pytest.raises(CacheIntegrityError):
        c.put_file(sha(b"something else"), data)
    path = c.put_file(sha(data), data)
    assert c.get_file(sha(data)) == path
    path.write_bytes(b"A .deb" * 100)  # same size, different bytes: bit rot or tampering
    assert c.get_file(sha(data)) is None
    assert not path.exists()


def test_truncated_file_entry_is_a_miss(tmp_path):
    c = Cache("slim", tmp_path)
    path = c.put_file("k", b"0123456789")
    path.write_bytes(b"01234")
    assert c.get_file("k") is None


def test_bad_keys_are_refused(tmp_path):
    c = Cache("slim", tmp_path)
    for key in ("", "../escape", "a/b", ".hidden", "k.tmp-1-2", "x" * 201):
        with pytest.raises(ValueError):
            c.get_file(key)
    with pytest.raises(ValueError):
        Cache("../x", tmp_path)


# ---------------------------------------------------------------- tree entries


def test_put_get_tree_roundtrip(tmp_path):
    src = make_tree(tmp_path / "src")
    c = Cache("bundles", tmp_path / "cache")
    key = cache_key("tree")
    assert c.get_tree(key) is None
    cached = c.put_tree(key, src)
    assert c.get_tree(key) == cached
    assert c.get_tree(key, verify=True) == cached
    assert snapshot(cached) == snapshot(src)
    [entry] = c.entries()
    assert entry.kind == "tree" and entry.files == 4
    assert entry.size == sum(p.stat().st_size for p in src.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize("damage", ["resize", "remove", "extra", "relink"])
def test_damaged_tree_is_discarded_by_cheap_check(tmp_path, damage):
    src = make_tree(tmp_path / "src")
    c = Cache("bundles", tmp_path / "cache")
    cached = c.put_tree("k", src)
    if damage == "resize":
        (cached / "pkg" / "__init__.py").write_text("x = 100\n")
    elif damage == "remove":
        (cached / "pkg" / "sub" / "data.bin").unlink()
    elif damage == "extra":
        (cached / "pkg" / "stray.py").write_text("")
    else:
        (cached / "lib" / "libz.so.1").unlink()
        (cached / "lib" / "libz.so.1").symlink_to("elsewhere")
    assert c.get_tree("k") is None
    assert c.entries() == []


def test_same_size_edit_needs_full_verify(tmp_path):
    src = make_tree(tmp_path / "src")
    c = Cache("bundles", tmp_path / "cache")
    cached = c.put_tree("k", src)
    target = cached / "pkg" / "__init__.py"
    st = target.stat()
    target.write_text("x = 2\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # an edit that hides its mtime
    assert c.get_tree("k") == cached  # size and mtime match: the cheap check passes
    assert c.get_tree("k", verify=True) is None
    assert c.get_tree("k") is None


def test_same_size_edit_in_place_is_caught_by_mtime(tmp_path):
    src = make_tree(tmp_path / "src")
    c = Cache("bundles", tmp_path / "cache")
    cached = c.put_tree("k", src)
    target = cached / "pkg" / "__init__.py"
    before = target.stat().st_mtime_ns
    while True:  # make sure the clock moved on so the mtime can differ
        target.write_text("x = 3\n")
        if target.stat().st_mtime_ns != before:
            break
        time.sleep(0.01)
    assert c.get_tree("k") is None


def test_read_only_tree_strips_write_bits(tmp_path):
    src = make_tree(tmp_path / "src")
    c = Cache("bundles", tmp_path / "cache")
    cached = c.put_tree("k", src, read_only=True)
    assert not any(p.stat().st_mode & 0o222 for p in cached.rglob("*") if p.is_file() and not p.is_symlink())
    assert (cached / "pkg" / "tool.sh").stat().st_mode & 0o111
    assert c.clean() > 0  # read-only entries can still be removed
    assert not (tmp_path / "cache" / "bundles" / "k").exists()


# ---------------------------------------------------------------- concurrency and kills


def _writer(root: str, key: str, payload: bytes, rounds: int, go) -> None:
    go.wait()
    c = Cache("shared", Path(root))
    for _ in range(rounds):
        c.put_file(key, payload)
        c.put_tree(key + "t", _tree_of(Path(root), payload))


def _tree_of(root: Path, payload: bytes) -> Path:
    top = root / f"src-{os.getpid()}"
    if not top.exists():
        (top / "d").mkdir(parents=True)
        for i in range(20):
            (top / "d" / f"f{i}").write_bytes(payload * (i + 1))
    return top


def test_two_processes_writing_the_same_key(tmp_path):
    go = CTX.Event()
    payloads = [b"A" * 200_000, b"B" * 300_000]
    procs = [CTX.Process(target=_writer, args=(str(tmp_path), "samekey", p, 15, go)) for p in payloads]
    for p in procs:
        p.start()
    readers_saw = set()
    go.set()
    c = Cache("shared", tmp_path)
    while any(p.is_alive() for p in procs):
        got = c.get_file("samekey")
        if got is not None:
            try:
                readers_saw.add(got.read_bytes())
            except FileNotFoundError:
                pass  # replaced between lookup and read: the lock is for that
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert readers_saw <= set(payloads)  # never a mixed or partial file
    assert c.get_file("samekey").read_bytes() in payloads
    tree = c.get_tree("samekeyt", verify=True)
    assert tree is not None
    contents = {f.read_bytes()[:1] for f in (tree / "d").iterdir()}
    assert len(contents) == 1  # one writer's whole tree, not a mix
    assert not list((tmp_path / "shared").glob("*/*.tmp-*"))
    assert not list((tmp_path / "shared").glob("*/*.old-*"))


def _hold_lock(root: str, key: str, held, release) -> None:
    with Cache("shared", Path(root)).lock(key):
        held.set()
        release.wait(30)


def test_lock_excludes_other_processes_and_clean_skips_held_entries(tmp_path):
    c = Cache("shared", tmp_path)
    c.put_file("busy", b"in use")
    c.put_file("idle", b"not in use")
    held, release = CTX.Event(), CTX.Event()
    proc = CTX.Process(target=_hold_lock, args=(str(tmp_path), "busy", held, release))
    proc.start()
    try:
        assert held.wait(30)
        with locks.flock(c.lock_path("busy"), blocking=False) as got:
            assert got is False
        assert c.clean() > 0
        assert [e.key for e in c.entries()] == ["busy"]
    finally:
        release.set()
        proc.join(30)
    assert c.clean() > 0
    assert c.entries() == []


def test_lock_is_reentrant_in_one_process(tmp_path):
    c = Cache("shared", tmp_path)
    with c.lock("k"):
        with c.lock("k"):
            c.put_file("k", b"x")  # takes the lock again internally
    with c.lock("k", shared=True):
        c.put_file("k", b"corrupt")
        assert c.get_file("k", sha256=sha(b"other")) is None  # discard under our shared lock


def _put_from_fifo(root: str, fifo: str) -> None:
    Cache("shared", Path(root)).put_file("victim", Path(fifo))


def test_writer_killed_mid_file_leaves_no_entry(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    c = Cache("shared", tmp_path / "cache")
    c.put_file("victim", b"previous complete value")
    proc = CTX.Process(target=_put_from_fifo, args=(str(tmp_path / "cache"), str(fifo)))
    proc.start()
    with open(fifo, "wb") as pipe:
        pipe.write(b"x" * (3 << 20))  # whole 1 MiB chunks; the writer waits for more
        pipe.flush()
        deadline = time.time() + 30
        while time.time() < deadline:  # wait until the partial bytes are on disk
            tmps = list((tmp_path / "cache" / "shared").glob("vi/victim.tmp-*/data"))
            if tmps and tmps[0].stat().st_size >= 3 << 20:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the writer never wrote its partial file")
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    assert list((tmp_path / "cache" / "shared").glob("vi/victim.tmp-*"))  # the torn write exists...
    assert c.get_file("victim").read_bytes() == b"previous complete value"  # ...but is not seen
    assert [e.key for e in c.entries()] == ["victim"]
    c.put_file("other", b"y")  # a later write in another shard leaves it alone
    c.put_file("victim2", b"z")  # a write in the same shard sweeps the dead writer's leftover
    assert not list((tmp_path / "cache" / "shared").glob("vi/victim.tmp-*"))


def _slow_put_tree(root: str, src: str, started) -> None:
    original = fsops.copy_file
    count = {"n": 0}

    def slow(a, b):
        count["n"] += 1
        if count["n"] == 3:
            started.set()
            time.sleep(60)
        return original(a, b)

    fsops.copy_file = slow
    Cache("shared", Path(root)).put_tree("treekey", Path(src))


def test_writer_killed_mid_tree_leaves_no_entry(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(10):
        (src / "d" / f"f{i}").write_bytes(b"%d" % i * 1000)
    started = CTX.Event()
    proc = CTX.Process(target=_slow_put_tree, args=(str(tmp_path / "cache"), str(src), started))
    proc.start()
    assert started.wait(30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    c = Cache("shared", tmp_path / "cache")
    assert c.get_tree("treekey") is None
    assert c.entries() == []
    assert c.clean() > 0  # the dead writer's partial copy is swept
    assert not any((tmp_path / "cache" / "shared").glob("*/*.tmp-*"))
    assert c.get_tree(c.put_tree("treekey", src).parent.name) is not None


# ---------------------------------------------------------------- cleaning


def test_clean_older_than_keeps_recently_used(tmp_path):
    c = Cache("slim", tmp_path)
    c.put_file("old", b"o" * 1000)
    c.put_file("new", b"n" * 10)
    past = time.time() - 10 * 86400
    os.utime(c.entry_dir("old") / "meta.json", (past, past))
    freed = c.clean(older_than=5 * 86400)
    assert 1000 <= freed < 2000  # the data and its meta.json
    assert [e.key for e in c.entries()] == ["new"]
    os.utime(c.entry_dir("new") / "meta.json", (past, past))
    c.get_file("new")  # a hit refreshes last use
    assert c.clean(older_than=5 * 86400) == 0
    assert c.size() > 0


def test_stale_leftovers_are_not_entries_and_are_cleaned(tmp_path):
    c = Cache("slim", tmp_path)
    c.put_file("live", b"ok")
    shard = tmp_path / "slim" / "li"
    dead = shard / "live.tmp-999999999-abcd"  # a pid that cannot exist
    dead.mkdir()
    (dead / "data").write_bytes(b"half")
    mine = shard / f"live.tmp-{os.getpid()}-ffff"  # a write still in progress here
    mine.mkdir()
    assert [e.key for e in c.entries()] == ["live"]
    c.clean(older_than=86400)
    assert not dead.exists() and mine.exists()
    assert [e.key for e in c.entries()] == ["live"]


# ---------------------------------------------------------------- whole cache and CLI


def _fake_root_dir(base: Path, name: str, age_days: float = 0) -> Path:
    root = base / "roots" / name
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "python3").write_bytes(b"\0" * 4096)
    marker = root / ".fcslim-root-complete"
    marker.write_text("bullseye amd64\n")
    t = time.time() - age_days * 86400
    os.utime(marker, (t, t))
    return root


def test_cli_info_and_clean(tmp_path, monkeypatch):
    from fcslim.cli.cache_cmd import cache_group

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path))
    Cache("debian", tmp_path).put_file("pkgidx", b"i" * 2048)
    Cache("bundles", tmp_path).put_tree("b1", make_tree(tmp_path / "src"))
    _fake_root_dir(tmp_path, "bullseye-amd64")
    (tmp_path / "uv" / "wheels-v1").mkdir(parents=True)
    (tmp_path / "uv" / "wheels-v1" / "w.whl").write_bytes(b"w" * 777)
    runner = CliRunner()

    result = runner.invoke(cache_group, ["info", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    by_name = {n["name"]: n for n in doc["namespaces"]}
    assert doc["root"] == str(tmp_path.resolve())
    assert by_name["debian"]["entries"] == 1 and by_name["debian"]["bytes"] >= 2048
    assert by_name["bundles"]["entries"] == 1
    assert by_name["roots"]["entries"] == 1
    assert by_name["uv"]["bytes"] == 777
    text = runner.invoke(cache_group, ["info"]).output
    assert "cache root:" in text and "bundles" in text and "roots" in text

    result = runner.invoke(cache_group, ["clean"])
    assert result.exit_code == 0, result.output
    assert Cache("debian", tmp_path).entries() == [] and Cache("bundles", tmp_path).entries() == []
    assert (tmp_path / "roots" / "bullseye-amd64").is_dir()  # roots only when named
    assert not (tmp_path / "uv" / "wheels-v1" / "w.whl").exists()

    result = runner.invoke(cache_group, ["clean", "nosuch"])
    assert result.exit_code == 3 and "nosuch" in result.output


def test_cli_clean_roots_respects_age(tmp_path, monkeypatch):
    from fcslim.cli.cache_cmd import cache_group

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path))
    old = _fake_root_dir(tmp_path, "buster-amd64", age_days=40)
    new = _fake_root_dir(tmp_path, "bookworm-amd64", age_days=1)
    runner = CliRunner()
    result = runner.invoke(cache_group, ["clean", "--older-than", "30", "roots"])
    assert result.exit_code == 0, result.output
    assert not old.exists() and new.exists()
    result = runner.invoke(cache_group, ["clean", "roots"])
    assert result.exit_code == 0 and not new.exists()
