"""The remote cache against a real S3-compatible server on loopback (moto,
signatures enforced) and a shared directory: read-through, write-back,
verification, degradation."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
from pathlib import Path

import pytest

from fcslim.cache import store
from fcslim.cache.remote import ROOT, RemoteCacheError
from fcslim.cache.store import Cache

pytestmark = pytest.mark.objectstore


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tree(top: Path) -> Path:
    (top / "pkg" / "sub").mkdir(parents=True)
    (top / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (top / "pkg" / "sub" / "core.so").write_bytes(os.urandom(300_000))
    (top / "pkg" / "sub" / "core.so").chmod(0o755)
    (top / "lib").mkdir()
    (top / "lib" / "libx.so.1.0").write_bytes(os.urandom(5000))
    (top / "lib" / "libx.so.1").symlink_to("libx.so.1.0")
    os.utime(top / "pkg" / "__init__.py", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    return top


def listing(top: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top).as_posix()
        st = path.lstat()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_file():
            out[rel] = (path.read_bytes(), st.st_mode & 0o777, st.st_mtime_ns)
    return out


def test_file_entry_is_shared_through_the_remote(tmp_path, s3_url):
    store.configure_remote(s3_url)
    first = Cache("debian", tmp_path / "runner1", kind="blob")
    data = b"a .deb's bytes" * 1000
    first.put_file(sha(data), data)
    second = Cache("debian", tmp_path / "runner2", kind="blob")
    got = second.get_file(sha(data))
    assert got is not None and got.read_bytes() == data
    assert got.is_relative_to(tmp_path / "runner2")  # kept locally: the next get does not download
    assert store.current_remote().stats["hits"] == 1


def test_tree_entry_keeps_bytes_modes_links_and_exact_mtimes(tmp_path, s3_url):
    store.configure_remote(s3_url)
    src = make_tree(tmp_path / "src")
    Cache("bundles", tmp_path / "runner1").put_tree("bundlekey", src, read_only=True)
    restored = Cache("bundles", tmp_path / "runner2").get_tree("bundlekey")
    assert restored is not None
    want = listing(src)
    got = listing(restored)
    assert set(got) == set(want)
    for rel, value in want.items():
        if value[0] == "link":
            assert got[rel] == value
        else:
            assert got[rel][0] == value[0] and got[rel][2] == value[2]
            assert got[rel][1] == value[1] & ~0o222  # stored read-only, like the first runner's entry
    assert Cache("bundles", tmp_path / "runner2").get_tree("bundlekey", verify=True) == restored


def _only_object(s3_env, prefix: str) -> str:
    client = s3_env.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_env.bucket, Prefix=prefix)["Contents"]
            if "/cas/" in o["Key"]]
    assert len(keys) == 1
    return keys[0]


def test_corrupted_remote_object_is_a_miss_reported_once_and_replaced(tmp_path, s3_url, s3_env, warnings_seen):
    store.configure_remote(s3_url)
    src = make_tree(tmp_path / "src")
    Cache("bundles", tmp_path / "runner1").put_tree("k1", src)
    prefix = s3_url.split("/", 3)[3]
    cas = _only_object(s3_env, prefix)
    good = s3_env.client().get_object(Bucket=s3_env.bucket, Key=cas)["Body"].read()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF  # same size, one flipped byte inside a file's data
    s3_env.client().put_object(Bucket=s3_env.bucket, Key=cas, Body=bytes(bad))

    runner2 = Cache("bundles", tmp_path / "runner2")
    assert runner2.get_tree("k1") is None
    assert runner2.get_tree("k1") is None
    text = warnings_seen.getvalue()
    assert text.count("treated as a miss") == 1 and cas.rsplit("/", 1)[1] in text
    assert not list((tmp_path / "runner2" / "bundles").glob("k1/k1*"))  # nothing half-unpacked kept

    runner2.put_tree("k1", src)  # the rebuild's write-back replaces the bad object
    fresh = Cache("bundles", tmp_path / "runner3")
    store.configure_remote(s3_url)  # a new process: nothing remembered
    assert fresh.get_tree("k1") is not None
    assert s3_env.client().get_object(Bucket=s3_env.bucket, Key=cas)["Body"].read() == good


def test_hostile_tree_object_is_refused(tmp_path, s3_url, s3_env, warnings_seen):
    store.configure_remote(s3_url)
    Cache("bundles", tmp_path / "runner1").put_tree("k2", make_tree(tmp_path / "src"))
    remote = store.current_remote()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    payload = buffer.getvalue()
    client = s3_env.client()
    client.put_object(Bucket=s3_env.bucket, Key=remote.cas_path(sha(payload)).split("/", 1)[1], Body=payload)
    ref = ('{"kind": "tree", "read_only": false, "schema": "fcslim.remote-ref/1", "sha256": "%s", "size": %d}'
           % (sha(payload), len(payload)))
    client.put_object(Bucket=s3_env.bucket, Key=remote.ref_path("bundles", "k2").split("/", 1)[1], Body=ref.encode())
    assert Cache("bundles", tmp_path / "runner2").get_tree("k2") is None
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "runner2" / "bundles" / "escaped").exists()
    assert "treated as a miss" in warnings_seen.getvalue()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_remote_degrades_with_one_warning(tmp_path, s3_env, monkeypatch, warnings_seen):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    store.configure_remote(f"s3://{s3_env.bucket}/down/")
    cache = Cache("slim", tmp_path / "c")
    assert cache.get_file("k") is None
    path = cache.put_file("k", b"built locally")
    assert path.read_bytes() == b"built locally"
    assert cache.get_tree("t") is None
    cache.put_tree("t", make_tree(tmp_path / "src"))
    text = warnings_seen.getvalue()
    assert text.count("remote cache") == 1 and "Carrying on without it" in text


def test_unreachable_remote_is_an_error_when_required(tmp_path, s3_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    store.configure_remote(f"s3://{s3_env.bucket}/down/", required=True)
    with pytest.raises(RemoteCacheError) as caught:
        Cache("slim", tmp_path / "c").get_file("k")
    assert caught.value.exit_code == 12 and "--cache-url-required" in str(caught.value)


def test_read_only_remote_serves_hits_and_skips_writes_with_one_warning(tmp_path, s3_url, s3_env, monkeypatch,
                                                                        warnings_seen):
    store.configure_remote(s3_url)
    Cache("slim", tmp_path / "runner1").put_file("shared", b"from the writer")
    for name, value in s3_env.reader.env(s3_env.endpoint).items():
        monkeypatch.setenv(name, value)
    store.configure_remote(s3_url)
    reader = Cache("slim", tmp_path / "runner2")
    assert reader.get_file("shared").read_bytes() == b"from the writer"
    reader.put_file("mine", b"one")
    reader.put_file("mine2", b"two")
    assert reader.get_file("mine").read_bytes() == b"one"
    text = warnings_seen.getvalue()
    assert text.count("remote cache") == 1 and "not shared" in text


def test_wrong_secret_is_refused_by_the_server(tmp_path, s3_url, monkeypatch, warnings_seen):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store.configure_remote(s3_url)
    assert Cache("slim", tmp_path / "c").get_file("k") is None
    text = warnings_seen.getvalue()
    assert "SignatureDoesNotMatch" in text or "Forbidden" in text or "signature we calculated" in text


def test_shared_directory_remote(tmp_path):
    shared = tmp_path / "nfs"
    store.configure_remote(f"file://{shared}")
    src = make_tree(tmp_path / "src")
    Cache("bundles", tmp_path / "runner1").put_tree("dirkey", src)
    Cache("slim", tmp_path / "runner1").put_file("f", b"file entry")
    assert Cache("bundles", tmp_path / "runner2").get_tree("dirkey") is not None
    assert Cache("slim", tmp_path / "runner2").get_file("f").read_bytes() == b"file entry"
    names = [p.relative_to(shared).as_posix() for p in shared.rglob("*") if p.is_file()]
    assert names and all(n.startswith(ROOT + "/") for n in names)
    assert not [n for n in names if ".tmp-" in n]  # published by rename, nothing left behind


def test_missing_remote_library_is_a_clear_error(monkeypatch):
    import fsspec

    def missing(protocol):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec, "get_filesystem_class", missing)
    store.configure_remote("s3://bucket/prefix/")
    with pytest.raises(Exception) as caught:
        store.current_remote().fs
    assert "fcslim[remote]" in str(caught.value)


def test_oss_urls_use_the_s3_compatible_endpoint_with_virtual_hosts(monkeypatch):
    from fcslim.cache.remote_url import open_filesystem, parse_location
    from fcslim.core.errors import InputError
    from fcslim.pack.upload import object_for

    for name in ("OSS_ENDPOINT", "ALIBABA_CLOUD_OSS_ENDPOINT", "OSS_REGION", "ALIBABA_CLOUD_REGION_ID", "FC_REGION"):
        monkeypatch.delenv(name, raising=False)
    location = parse_location("oss://my-bucket/ci/cache/")
    assert (location.scheme, location.bucket, location.prefix) == ("oss", "my-bucket", "ci/cache")
    with pytest.raises(InputError, match="OSS_ENDPOINT"):
        open_filesystem(location)
    monkeypatch.setenv("OSS_REGION", "cn-hangzhou")
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAIexample")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "secret")
    monkeypatch.setenv("OSS_SESSION_TOKEN", "sts-token")
    fs = open_filesystem(location)
    assert fs.endpoint_url == "https://s3.oss-cn-hangzhou.aliyuncs.com"
    assert (fs.key, fs.secret, fs.token) == ("LTAIexample", "secret", "sts-token")
    assert fs.config_kwargs["s3"] == {"addressing_style": "virtual"}
    obj = object_for(location, "ab" * 32)
    assert obj.to_dict() == {"scheme": "oss", "bucket": "my-bucket", "key": f"ci/cache/{'ab' * 32}.zip",
                             "region": "cn-hangzhou", "endpoint": "https://s3.oss-cn-hangzhou.aliyuncs.com",
                             "addressing": "virtual"}


def test_bad_remote_urls_are_input_errors():
    from fcslim.cache.remote_url import parse_location
    from fcslim.core.errors import InputError

    for url in ("ftp://host/x", "s3:///no-bucket", ""):
        with pytest.raises(InputError):
            parse_location(url)
    assert parse_location("/mnt/shared").scheme == "file"


def test_what_killed_transfers_left_is_swept_once_a_day_old(tmp_path):
    store.configure_remote(f"file://{tmp_path / 'nfs'}")
    scratch = tmp_path / "c" / "slim" / ".remote"
    scratch.mkdir(parents=True)
    (scratch / ".get-old").write_bytes(b"x" * 100)
    os.utime(scratch / ".get-old", (0, 0))
    (scratch / ".get-young").write_bytes(b"y")  # may be another process's transfer in progress
    assert Cache("slim", tmp_path / "c").get_file("k") is None
    assert sorted(p.name for p in scratch.iterdir()) == [".get-young"]
