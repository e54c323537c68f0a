"""Files a build handles are streamed, never held whole in memory (offline).

The bytes that come out must be the ones a whole read gives: a package's
library written through :meth:`DebArchive.copy`, and the SHA-256 of an index
file with no published hash, downloaded from a loopback server into a
temporary file.  (Peak memory itself is measured in bench/, not asserted.)
"""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
from functools import partial

from fcslim.debian.debfile import DebArchive
from fcslim.resolve.index import IndexFile
from tests.support.debian_mirror import library_members, make_deb

BIG = bytes(range(256)) * 12_000  # 3 MiB: more than one copy chunk


def test_deb_member_copied_in_chunks_is_the_member(tmp_path):
    members = library_members("libbig1", "usr/lib/x86_64-linux-gnu/libbig.so.1.0", b"\x7fELF" + BIG,
                              {"usr/lib/x86_64-linux-gnu/libbig.so.1": "libbig.so.1.0"})
    path = tmp_path / "libbig1.deb"
    path.write_bytes(make_deb("libbig1", "1.0", members))
    with DebArchive(path) as deb:
        out = io.BytesIO()
        assert deb.copy("usr/lib/x86_64-linux-gnu/libbig.so.1", out) == len(BIG) + 4
        assert out.getvalue() == deb.read("usr/lib/x86_64-linux-gnu/libbig.so.1.0") == b"\x7fELF" + BIG


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_digest_of_an_unhashed_remote_file_is_streamed(tmp_path):
    (tmp_path / "demo-1.0-py3-none-any.whl").write_bytes(BIG)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/demo-1.0-py3-none-any.whl"
        offered = IndexFile("demo-1.0-py3-none-any.whl", url)
        assert offered.digest() == hashlib.sha256(BIG).hexdigest()
    finally:
        server.shutdown()
        server.server_close()
