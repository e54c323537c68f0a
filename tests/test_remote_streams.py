"""Bundles on the remote carry their deflate streams, in parts (moto on loopback,
signatures enforced): a fresh runner restores the files and the streams
without compressing, every part and every stream is checked, and two
processes restoring the same key download it once."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from isal import isal_zlib

from fcslim.cache import parts, store
from fcslim.cache.store import Cache
from fcslim.cache.treestreams import ZIP_KEY, TreeStreams
from fcslim.pack.deflate import codec, deflate_files
from fcslim.pack.streams import StreamStore

pytestmark = pytest.mark.objectstore


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(parts, "PART_SIZE", 64 << 10)  # a few parts even for a small tree


def measured_bundle(top: Path, cache_root: Path) -> list[Path]:
    """A small bundle, measured as the build measures it (streams in ``cache_root``'s store)."""
    (top / "pkg" / "sub").mkdir(parents=True)
    (top / "pkg" / "__init__.py").write_text("VALUE = 1\n" * 3000)
    (top / "pkg" / "sub" / "core.so").write_bytes(b"\x7fELF" + os.urandom(150_000))  # stored as is
    (top / "pkg" / "sub" / "data.txt").write_bytes(b"".join(b"row %d\n" % i for i in range(40_000)))
    (top / "pkg" / "empty.txt").write_bytes(b"")
    (top / "lib").mkdir()
    (top / "lib" / "libx.so.1").symlink_to("../pkg/sub/core.so")
    files = sorted(p for p in top.rglob("*") if p.is_file() and not p.is_symlink())
    deflate_files(files, store=StreamStore(codec(), cache_root / "deflate"))
    return files


def stream_bytes(streams: TreeStreams, known) -> bytes:
    facts, ref = known
    if ref is None:
        return b""
    with streams.open_stream(ref) as handle:
        return handle.read(ref.length)


def test_a_fresh_runner_gets_files_and_streams_from_parts(tmp_path, s3_url, s3_env, small_parts):
    store.configure_remote(s3_url)
    runner1, runner2 = tmp_path / "runner1", tmp_path / "runner2"
    files = measured_bundle(tmp_path / "src", runner1)
    Cache("bundles", runner1, streams=True).put_tree("k", tmp_path / "src", read_only=True, link=True)
    remote = store.current_remote()
    ref = remote.read_ref("bundles", "k")
    assert ref is not None and len(ref.parts) > 2 and ref.codec == codec()
    # The object holds the streams, not the files: smaller than the files it restores.
    assert ref.size < sum(p.stat().st_size for p in files)

    tree = Cache("bundles", runner2, streams=True).get_tree("k")
    assert tree is not None
    for path in files:
        rel = path.relative_to(tmp_path / "src")
        assert (tree / rel).read_bytes() == path.read_bytes()
        assert (tree / rel).stat().st_mtime_ns == path.stat().st_mtime_ns
    assert os.readlink(tree / "lib" / "libx.so.1") == "../pkg/sub/core.so"
    # runner2's stream store knows every restored file by identity, with runner1's streams.
    first, second = TreeStreams(runner1), TreeStreams(runner2)
    restored = [tree / p.relative_to(tmp_path / "src") for p in files]
    theirs, ours = first.known(files), second.known(restored)
    assert all(known is not None for known in ours)
    assert [k[0] for k in ours] == [k[0] for k in theirs]
    assert [stream_bytes(second, k) for k in ours] == [stream_bytes(first, k) for k in theirs]
    big = ours[[p.name for p in files].index("data.txt")]
    assert isal_zlib.decompress(stream_bytes(second, big), -15) == (tree / "pkg/sub/data.txt").read_bytes()
    # ...so measuring the restored tree compresses nothing (every file is found, none is read).
    assert deflate_files(restored, store=StreamStore(codec(), runner2 / "deflate")) == [k for k in ours]


def test_a_stream_that_does_not_give_its_file_is_a_miss_said_once(tmp_path, s3_url, s3_env, warnings_seen):
    store.configure_remote(s3_url)
    remote = store.current_remote()
    content = b"print('hello')\n" * 100
    wrong = isal_zlib.compress(b"print('HELLO')\n" * 100, 3, -15)
    record = f"8 {len(content)} {isal_zlib.crc32(content)} {'0' * 64} 0"  # a well-formed lie
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("handler.py")
        info.size = len(wrong)
        info.pax_headers = {ZIP_KEY: record}
        tar.addfile(info, io.BytesIO(wrong))
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    client = s3_env.client()
    client.put_object(Bucket=s3_env.bucket, Key=remote.cas_path(digest).split("/", 1)[1], Body=payload)
    ref = {"schema": "fcslim.remote-ref/1", "kind": "tree", "sha256": digest, "size": len(payload),
           "parts": [[digest, len(payload)]], "codec": codec()}
    client.put_object(Bucket=s3_env.bucket, Key=remote.ref_path("bundles", "k").split("/", 1)[1],
                      Body=json.dumps(ref).encode())
    runner = Cache("bundles", tmp_path / "runner", streams=True)
    assert runner.get_tree("k") is None
    assert runner.get_tree("k") is None
    assert warnings_seen.getvalue().count("treated as a miss") == 1
    assert not list((tmp_path / "runner" / "bundles" / "k").glob("k*"))
    index = tmp_path / "runner" / "deflate" / "index-v1.sqlite"
    if index.exists():  # nothing unverified reached the stream store
        import sqlite3

        with sqlite3.connect(index) as db:
            assert db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 0


def test_a_corrupted_part_is_a_miss_reported_once_and_replaced(tmp_path, s3_url, s3_env, warnings_seen,
                                                                small_parts):
    store.configure_remote(s3_url)
    runner1 = tmp_path / "runner1"
    measured_bundle(tmp_path / "src", runner1)
    Cache("bundles", runner1, streams=True).put_tree("k", tmp_path / "src", read_only=True, link=True)
    ref = store.current_remote().read_ref("bundles", "k")
    victim = ref.parts[1]
    key = store.current_remote().cas_path(victim.sha256).split("/", 1)[1]
    client = s3_env.client()
    good = client.get_object(Bucket=s3_env.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3_env.bucket, Key=key, Body=good[:-1] + bytes([good[-1] ^ 1]))

    runner2 = Cache("bundles", tmp_path / "runner2", streams=True)
    assert runner2.get_tree("k") is None and runner2.get_tree("k") is None
    text = warnings_seen.getvalue()
    assert text.count("treated as a miss") == 1 and victim.sha256 in text
    Cache("bundles", runner1, streams=True).put_tree("k", tmp_path / "src", read_only=True, link=True)  # write-back
    assert client.get_object(Bucket=s3_env.bucket, Key=key)["Body"].read() == good
    store.configure_remote(s3_url)  # a new process: nothing remembered
    assert Cache("bundles", tmp_path / "runner3", streams=True).get_tree("k") is not None


RESTORE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from fcslim.cache import bundles, remote, store

    fetch = remote.RemoteStore.fetch_tree
    def slow_fetch(self, *args, **kwargs):  # widen the window: both processes are inside it
        got = fetch(self, *args, **kwargs)
        time.sleep(1.5)
        return got
    remote.RemoteStore.fetch_tree = slow_fetch
    Path(sys.argv[3]).touch()
    while not Path(sys.argv[4]).exists():
        time.sleep(0.01)
    stats = bundles.restore_bundle_stats(sys.argv[1], Path(sys.argv[2]))
    print(json.dumps({"files": stats and stats.files, "downloads": store.current_remote().stats["hits"]}))
""")


def test_two_processes_restoring_one_key_share_one_download(tmp_path, s3_url, s3_env):
    store.configure_remote(s3_url)
    measured_bundle(tmp_path / "src", tmp_path / "builder")
    Cache("bundles", tmp_path / "builder", streams=True).put_tree("k", tmp_path / "src", read_only=True, link=True)
    env = dict(os.environ, FCSLIM_CACHE_DIR=str(tmp_path / "shared"), FCSLIM_CACHE_URL=s3_url)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RESTORE, "k", str(tmp_path / f"out{i}"),
                               str(tmp_path / f"ready{i}"), str(go)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    while not all((tmp_path / f"ready{i}").exists() for i in (1, 2)):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert [r["files"] for r in results] == [4, 4]
    assert sum(r["downloads"] for r in results) == 1  # the second waited for the first and linked its entry
    for rel in ("pkg/__init__.py", "pkg/sub/core.so", "pkg/sub/data.txt", "pkg/empty.txt"):
        want = (tmp_path / "src" / rel).read_bytes()
        assert (tmp_path / "out1" / rel).read_bytes() == want == (tmp_path / "out2" / rel).read_bytes()
    assert Cache("bundles", tmp_path / "shared").get_tree("k", verify=True, remote=False) is not None


def test_cleaning_keeps_the_parts_of_kept_entries_and_drops_the_others(tmp_path, s3_url, s3_env, small_parts,
                                                                       monkeypatch):
    from fcslim.cache import remote_maintenance

    store.configure_remote(s3_url)
    measured_bundle(tmp_path / "a", tmp_path / "runner1")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "other.txt").write_bytes(os.urandom(200_000))
    Cache("bundles", tmp_path / "runner1", streams=True).put_tree("gone", tmp_path / "a", read_only=True, link=True)
    Cache("kept", tmp_path / "runner1").put_tree("kept", tmp_path / "b")
    remote = store.current_remote()
    gone, kept = remote.read_ref("bundles", "gone"), remote.read_ref("kept", "kept")
    assert len(gone.parts) > 1 and len(kept.parts) > 1
    monkeypatch.setattr(remote_maintenance, "GRACE_SECONDS", 0)  # no writer is between its parts and its ref here
    removed, freed = remote_maintenance.clean_remote(remote, namespaces=["bundles"])
    assert removed == 1 and freed == sum(p.size for p in gone.parts)
    for part in gone.parts:
        assert not remote.fs.exists(remote.cas_path(part.sha256))
    store.configure_remote(s3_url)
    tree = Cache("kept", tmp_path / "runner2").get_tree("kept")  # every part of the kept entry is still there
    assert tree is not None and (tree / "other.txt").read_bytes() == (tmp_path / "b" / "other.txt").read_bytes()


def test_streams_of_another_codec_restore_the_files_but_are_not_kept(tmp_path, s3_url, s3_env):
    store.configure_remote(s3_url)
    files = measured_bundle(tmp_path / "src", tmp_path / "runner1")
    Cache("bundles", tmp_path / "runner1", streams=True).put_tree("k", tmp_path / "src", read_only=True, link=True)
    remote = store.current_remote()
    doc = json.loads(remote.fs.cat_file(remote.ref_path("bundles", "k")))
    doc["codec"] = "isal-0.0.0-another-machine"  # streams made where deflate gives other bytes
    remote.fs.pipe_file(remote.ref_path("bundles", "k"), json.dumps(doc).encode())
    tree = Cache("bundles", tmp_path / "runner2", streams=True).get_tree("k")
    assert tree is not None
    restored = [tree / p.relative_to(tmp_path / "src") for p in files]
    assert [p.read_bytes() for p in restored] == [p.read_bytes() for p in files]  # inflated and checked all the same
    assert TreeStreams(tmp_path / "runner2").known(restored) == [None] * len(files)
