"""A plain-HTTP forward proxy on loopback that sends every request to one
server, keeping the Host header the client chose.

It lets a test reach a server on 127.0.0.1 under a real provider's host name
(``bucket.s3.oss-cn-hangzhou.aliyuncs.com``: virtual-hosted addressing, signed
for that host) without DNS, and records what each request looked like.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class SeenRequest:
    method: str
    host: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class ForwardProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.seen: list[SeenRequest] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                url = urlsplit(self.path)
                path = url.path + (f"?{url.query}" if url.query else "")
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                proxy.seen.append(SeenRequest(self.command, self.headers.get("Host", ""), path, headers))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=30)
                try:
                    upstream.request(self.command, path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(name, value)
                    length = response.getheader("Content-Length") if self.command == "HEAD" else None
                    self.send_header("Content-Length", length or str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
