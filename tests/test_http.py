"""fcslim.core.http against a loopback server that misbehaves on purpose:
retries on 503 (honouring Retry-After), a body cut short and fetched again,
404 as NotFoundError, conditional requests, file:// URLs, refused
connections and malformed URLs (offline)."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from fcslim.core import http as fhttp
from fcslim.core.errors import EXIT_INPUT, EXIT_NETWORK

from tests.support.debian_mirror import unreachable_url


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {}

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              length: int | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's name)
        count = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/flaky":  # overloaded twice, then fine
            if count <= 2:
                self._send(503, b"busy", {"Retry-After": "0"})
            else:
                self._send(200, b"finally")
        elif self.path == "/down":
            self._send(503, b"busy", {"Retry-After": "0"})
        elif self.path == "/cut":  # the first body breaks off half way
            body = b"x" * 4096
            if count == 1:
                self._send(200, body[:1000], length=len(body))
                self.close_connection = True
            else:
                self._send(200, body)
        elif self.path == "/moved":
            self._send(302, b"", {"Location": "/simple/page/"})
        elif self.path == "/simple/page/":
            accept = self.headers.get("Accept", "")
            kind = "application/vnd.pypi.simple.v1+json" if "json" in accept else "text/html"
            self._send(200, kind.encode(), {"Content-Type": kind})
        elif self.path == "/etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self._send(304)
            else:
                self._send(200, b"release", {"ETag": '"v1"', "Last-Modified": "Sat, 09 Aug 2025 09:16:30 GMT"})
        else:
            self._send(404, b"no")


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(fhttp, "BACKOFF", 0.0)  # the back-off is urllib3's; its length is not under test
    _Handler.hits = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_overloaded_server_is_retried(server):
    assert fhttp.get(f"{server}/flaky").data == b"finally"
    assert _Handler.hits["/flaky"] == 3
    with pytest.raises(fhttp.HttpError, match="HTTP 503") as info:
        fhttp.get(f"{server}/down")
    assert info.value.exit_code == EXIT_NETWORK and _Handler.hits["/down"] == fhttp.RETRIES + 1


def test_body_cut_short_is_fetched_again(server, tmp_path):
    dest = tmp_path / "file"
    assert fhttp.download(f"{server}/cut", dest) == 4096
    assert dest.read_bytes() == b"x" * 4096 and _Handler.hits["/cut"] == 2


def test_missing_file_and_conditional_get(server, tmp_path):
    with pytest.raises(fhttp.NotFoundError, match="HTTP 404") as info:
        fhttp.get(f"{server}/nothing")
    assert info.value.exit_code == EXIT_NETWORK and info.value.url.endswith("/nothing")
    with pytest.raises(fhttp.NotFoundError):
        fhttp.download(f"{server}/nothing", tmp_path / "x")
    first = fhttp.get(f"{server}/etag")
    assert first.data == b"release" and first.etag == '"v1"'
    again = fhttp.get(f"{server}/etag", etag=first.etag, last_modified=first.last_modified)
    assert again.data is None and again.etag == '"v1"'  # 304: keep the cached copy


def test_redirects_accept_and_content_type(server):
    answer = fhttp.get(f"{server}/moved", accept="application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    assert answer.url == f"{server}/simple/page/"  # where relative links on the page resolve from
    assert answer.content_type == "application/vnd.pypi.simple.v1+json" and answer.data == answer.content_type.encode()
    assert fhttp.get(f"{server}/moved").content_type == "text/html"


def test_file_urls(tmp_path):
    source = tmp_path / "dir with space" / "Release"
    source.parent.mkdir()
    source.write_bytes(b"Origin: local\n")
    url = source.as_uri()
    assert fhttp.get(url).data == b"Origin: local\n"
    assert fhttp.download(url, tmp_path / "copy") == 14
    with pytest.raises(fhttp.NotFoundError):
        fhttp.get((tmp_path / "absent").as_uri())


def test_refused_connection_fails_fast():
    started = time.monotonic()
    with pytest.raises(fhttp.HttpError, match="Connection refused") as info:
        fhttp.get(f"{unreachable_url()}/InRelease")
    assert info.value.exit_code == EXIT_NETWORK
    assert time.monotonic() - started < 5  # one immediate retry, no long back-off


@pytest.mark.parametrize("url", ["ftp//nope", "ftp://host/x", "http:///path", "mirror.example/debian", ""])
def test_malformed_urls_are_bad_input(url):
    with pytest.raises(Exception) as info:
        fhttp.get(url)
    assert info.value.exit_code == EXIT_INPUT and repr(url) in str(info.value)
