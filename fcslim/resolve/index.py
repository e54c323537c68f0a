"""A small package-index client: the files a project offers.

Reads PEP 691 JSON (asked for first) or PEP 503 HTML simple pages, local
``file:`` indexes, and find-links locations (a directory of files, an HTML page
or a URL).  uv does the installing; this client only serves the diagnoses and
checks uv cannot make for fcslim (which versions exist and with which tags, an
sdist's contents, the file a glibc 2.24/2.26 target can load).
"""

from __future__ import annotations

import email.parser
import html.parser
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from fcslim.core import http
from fcslim.core.errors import InputError, NetworkError
from fcslim.core.hashing import file_sha256
from fcslim.resolve.options import Sources



@dataclass(frozen=True)
class IndexFile:
    """A distribution file an index or find-links location offers."""

    filename: str
    url: str
    requires_python: str | None = None
    yanked: bool = False
    sha256: str | None = None
    size: int | None = None  # bytes, when the index says (PEP 700 JSON)

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    def digest(self, timeout: float = 15.0) -> str:
        """The file's SHA-256: as the index published it, else computed
        (a local file) or downloaded."""
        if self.sha256:
            return self.sha256
        if self.url.startswith("file:"):
            return file_sha256(Path(unquote(urlparse(self.url).path)))
        with tempfile.TemporaryDirectory(prefix="fcslim-digest-") as tmp:
            download_file(self, Path(tmp) / "file", timeout)
            return file_sha256(Path(tmp) / "file")


class _AnchorParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            attributes = dict(attrs)
            if attributes.get("href"):
                self.links.append((attributes["href"] or "", attributes))


def files_from_html(page: str, base: str) -> list[IndexFile]:
    """The distribution files a PEP 503 page (or find-links page) links to."""
    parser = _AnchorParser()
    parser.feed(page)
    files = []
    for href, attributes in parser.links:
        url, fragment = urldefrag(urljoin(base, href))
        filename = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        sha = re.match(r"^sha256=([0-9a-fA-F]{64})$", fragment)
        if filename.endswith((".whl", ".tar.gz", ".zip")):
            files.append(IndexFile(filename, url, attributes.get("data-requires-python") or None,
                                   "data-yanked" in attributes, sha.group(1).lower() if sha else None))
    return files


def fetch(url: str, timeout: float, accept: str | None = None) -> tuple[bytes, str, str]:
    """Body, Content-Type and final URL of ``url`` (through fcslim's one HTTP
    helper: timeouts, retries, kept-alive connections)."""
    answer = http.get(url, timeout=timeout, accept=accept)
    return answer.data or b"", answer.content_type, answer.url or url


def download_file(f: IndexFile, dest: Path, timeout: float) -> int:
    """Write an offered file to ``dest``, 1 MiB at a time (never whole in
    memory: a wheel can be 600 MiB); its size."""
    return http.download(f.url, dest, timeout=timeout)


def index_files(name: str, sources: Sources, timeout: float = 15.0) -> tuple[list[IndexFile], list[str]]:
    """Every file offered for ``name`` by the find-links locations and indexes,
    and the places that could not be read."""
    wanted = canonicalize_name(name)
    files: list[IndexFile] = []
    unreadable: list[str] = []
    for link in sources.find_links:
        try:
            files += [f for f in _find_links_files(link, timeout) if file_project(f.filename) == wanted]
        except (OSError, ValueError, NetworkError, InputError):
            unreadable.append(link)
    for index in sources.indexes():
        try:
            files += _index_project_files(index, wanted, timeout)
        except http.NotFoundError:
            pass  # the index does not know the project
        except (OSError, ValueError, NetworkError, InputError):
            unreadable.append(index)
    return files, unreadable


def _find_links_files(link: str, timeout: float) -> list[IndexFile]:
    if re.match(r"^https?://", link):
        body, _type, final = fetch(link, timeout)
        return files_from_html(body.decode("utf-8", "replace"), final)
    path = Path(unquote(urlparse(link).path) if link.startswith("file:") else link)
    if path.is_dir():
        return [IndexFile(p.name, p.as_uri(), _local_requires_python(p), size=p.stat().st_size)
                for p in sorted(path.iterdir()) if p.is_file()]
    if path.is_file() and path.suffix in (".html", ".htm"):
        return files_from_html(path.read_text(errors="replace"), path.as_uri())
    return []


def _local_requires_python(path: Path) -> str | None:
    """Requires-Python from a local wheel's METADATA (find-links pages do not say)."""
    if path.suffix != ".whl":
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
            if meta is None:
                return None
            parsed = email.parser.Parser().parsestr(zf.read(meta).decode("utf-8", "replace"), headersonly=True)
            return parsed.get("Requires-Python") or None
    except (OSError, zipfile.BadZipFile, KeyError):
        return None


def _index_project_files(index: str, name: str, timeout: float) -> list[IndexFile]:
    if index.startswith("file:"):
        root = Path(unquote(urlparse(index).path)) / name
        page = root / "index.html"
        if page.is_file():
            return files_from_html(page.read_text(errors="replace"), page.as_uri())
        if root.is_dir():
            return [IndexFile(p.name, p.as_uri()) for p in sorted(root.iterdir()) if p.is_file()]
        return []
    url = index.rstrip("/") + f"/{name}/"
    body, content_type, final = fetch(url, timeout, accept="application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    if "json" in content_type:
        data = json.loads(body)
        return [
            IndexFile(f["filename"], urljoin(final, f["url"]), f.get("requires-python") or None,
                      bool(f.get("yanked")), (f.get("hashes") or {}).get("sha256"),
                      f["size"] if isinstance(f.get("size"), int) else None)
            for f in data.get("files", [])
        ]
    return files_from_html(body.decode("utf-8", "replace"), final)


def file_project(filename: str) -> str | None:
    """The canonical project name a wheel or sdist file name carries."""
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        return canonicalize_name(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
