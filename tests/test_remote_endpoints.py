"""Endpoints of the remote cache: OSS's S3-compatible API as fcslim addresses it
(virtual-hosted bucket, OSS_* credentials, the OSS region in the signature,
no aws-chunked uploads), reached on loopback through a forward proxy that
keeps the provider's host name; and a remote that accepts connections but
never answers."""

from __future__ import annotations

import hashlib
import socket
import threading
import uuid
import pytest

from fcslim.cache import remote_url, store
from fcslim.cache.remote import RemoteCacheError
from fcslim.cache.store import Cache
from tests.support.forward_proxy import ForwardProxy

pytestmark = pytest.mark.objectstore

OSS_HOST = "s3.oss-ap-southeast-1.aliyuncs.com"  # not a cn- region: moto files those under AWS China


@pytest.fixture
def oss_env(s3_env, monkeypatch):
    host, port = s3_env.endpoint.split("//", 1)[1].split(":")
    proxy = ForwardProxy(host, int(port))
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "OSS_REGION", "ALIBABA_CLOUD_REGION_ID", "FC_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("OSS_ENDPOINT", f"http://{OSS_HOST}")
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", s3_env.writer.access_key)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", s3_env.writer.secret_key)
    yield proxy
    proxy.close()


def test_oss_remote_shares_files_and_bundles_as_oss_expects(tmp_path, s3_env, oss_env, warnings_seen):
    url = f"oss://{s3_env.bucket}/oss-{uuid.uuid4().hex[:8]}/"
    store.configure_remote(url)
    data = b"a .deb's bytes" * 500
    key = hashlib.sha256(data).hexdigest()
    Cache("debian", tmp_path / "runner1", kind="blob").put_file(key, data)
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    Cache("bundles", tmp_path / "runner1", streams=True).put_tree("b", src, read_only=True)
    store.configure_remote(url)  # another runner
    assert Cache("debian", tmp_path / "runner2", kind="blob").get_file(key).read_bytes() == data
    tree = Cache("bundles", tmp_path / "runner2", streams=True).get_tree("b")
    assert tree is not None and (tree / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert "remote cache" not in warnings_seen.getvalue()

    seen = oss_env.seen
    assert seen and {r.host for r in seen} == {f"{s3_env.bucket}.{OSS_HOST}"}  # virtual-hosted, OSS's host
    assert all("/ap-southeast-1/s3/aws4_request" in r.headers.get("Authorization", "") for r in seen)
    assert all(s3_env.writer.access_key in r.headers["Authorization"] for r in seen)  # from OSS_ACCESS_KEY_ID
    puts = [r for r in seen if r.method == "PUT"]
    assert puts and not [r for r in puts if "aws-chunked" in r.headers.get("Content-Encoding", "")
                         or r.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")]
    assert all(r.path.startswith(f"/{url.split('/', 3)[3]}fcslim-cache/v1/") for r in puts)


class Silent:
    """A server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_remote(s3_env, monkeypatch):
    server = Silent()
    monkeypatch.setattr(remote_url, "READ_TIMEOUT", 1)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.sock.getsockname()[1]}")
    yield server
    server.close()


def test_a_remote_that_never_answers_is_one_warning_and_asked_no_more(tmp_path, silent_remote, s3_env,
                                                                      warnings_seen):
    store.configure_remote(f"s3://{s3_env.bucket}/silent/")
    cache = Cache("debian", tmp_path / "c")
    assert cache.get_file("k1") is None
    asked = len(silent_remote.accepted)
    assert 1 <= asked <= 3  # botocore's two attempts (s3fs's own five rounds of retries are off)
    assert cache.get_file("k2") is None
    assert cache.put_file("k3", b"built locally").read_bytes() == b"built locally"
    assert Cache("bundles", tmp_path / "c").get_tree("t") is None
    assert len(silent_remote.accepted) == asked  # a failed remote is not asked again in this process
    text = warnings_seen.getvalue()
    assert text.count("remote cache") == 1 and "timeout" in text.lower()


def test_a_remote_that_never_answers_is_exit_12_when_required(tmp_path, silent_remote, s3_env):
    store.configure_remote(f"s3://{s3_env.bucket}/silent/", required=True)
    with pytest.raises(RemoteCacheError) as caught:
        Cache("debian", tmp_path / "c").get_file("k1")
    assert caught.value.exit_code == 12


def test_pack_upload_to_oss_puts_the_zip_under_its_hash_as_oss_expects(tmp_path, s3_env, oss_env):
    from fcslim.pack.upload import upload_deps

    deps = tmp_path / "bundle.deps.zip"
    deps.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    digest = hashlib.sha256(deps.read_bytes()).hexdigest()
    uploaded = upload_deps(deps, digest, f"oss://{s3_env.bucket}/deps/")
    assert uploaded.to_dict() == {"scheme": "oss", "bucket": s3_env.bucket, "key": f"deps/{digest}.zip",
                                  "region": "ap-southeast-1", "endpoint": f"http://{OSS_HOST}",
                                  "addressing": "virtual"}
    body = s3_env.client().get_object(Bucket=s3_env.bucket, Key=f"deps/{digest}.zip")["Body"].read()
    assert body == deps.read_bytes()
    put = [r for r in oss_env.seen if r.method == "PUT"]
    assert put and all(r.host == f"{s3_env.bucket}.{OSS_HOST}" for r in put)
    assert all("/ap-southeast-1/s3/aws4_request" in r.headers["Authorization"] for r in put)
