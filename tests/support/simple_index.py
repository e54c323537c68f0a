"""A PEP 503 simple index of a find-links directory, served on loopback.

Links carry ``#sha256=`` fragments, as PyPI's do, so resolvers that record
hashes from the index (``uv lock``, ``uv pip compile --format pylock.toml``)
write them: the offline tests can then prove that lock hashes are checked.

    with serve_simple_index(links, tmp / "index") as url:   # http://127.0.0.1:PORT/simple/
        ...
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path
from typing import Iterator

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename


def _project(filename: str) -> str:
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    return canonicalize_name(parse_sdist_filename(filename)[0])


def build_simple_index(links: Path, root: Path) -> Path:
    """Write ``root/simple/<project>/index.html`` and ``root/files/*`` for every
    wheel and sdist in ``links``; returns ``root``."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[Path]] = {}
    for path in sorted(Path(links).iterdir()):
        if path.suffix in (".whl", ".gz"):
            shutil.copyfile(path, files / path.name)
            projects.setdefault(_project(path.name), []).append(files / path.name)
    for name, paths in projects.items():
        page = root / "simple" / name / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        rows = "".join(f'<a href="/files/{p.name}#sha256={hashlib.sha256(p.read_bytes()).hexdigest()}">{p.name}</a>\n'
                       for p in paths)
        page.write_text(f"<!DOCTYPE html><html><body>\n{rows}</body></html>\n")
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve_simple_index(links: Path, root: Path) -> Iterator[str]:
    """Build the index under ``root`` and serve it; yields the ``/simple/`` URL."""
    build_simple_index(links, root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
