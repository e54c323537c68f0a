"""The one HTTP client of fcslim's own code: GET with timeouts, retries and
connection reuse, for http://, https:// and file:// URLs.

Built on urllib3 (a well-kept, MIT-licensed library): its connection pool
keeps one connection per host alive across the many small downloads of a
fetch (a Release, two indexes, a dozen ``.deb`` files), and its ``Retry``
backs off on connection errors and on 429/5xx answers (honouring
``Retry-After``).  A body that breaks off half way is fetched again from the
start.  Proxies come from the usual environment variables (``http_proxy``,
``https_proxy``, ``no_proxy``), read by the standard library as urllib does.

Errors: a URL that is not ``http(s)://host/...`` or ``file://...`` is an
:class:`~fcslim.core.errors.InputError`; 404 and 410 raise
:class:`NotFoundError`; anything else that fails is a
:class:`~fcslim.core.errors.NetworkError` naming the URL and the reason.
"""

from __future__ import annotations

import shutil
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import urllib3

from .errors import InputError, NetworkError

USER_AGENT = "fcslim (+https://pypi.org/project/fcslim/)"
SCHEMES = ("http", "https", "file")
RETRIES = 3
_CHUNK = 1 << 20
_RETRY_STATUS = (429, 500, 502, 503, 504)
_NETWORK_HINT = "Check the network, the URL and any proxy settings (http_proxy, https_proxy)."


def _urllib3() -> ModuleType:
    """urllib3, imported when a request is made: importing it (and
    urllib.request) costs 0.2-0.3 s, a quarter of a warm rebuild's start-up,
    measured with pyinstrument; a warm rebuild makes no request."""
    import urllib3

    return urllib3


def _urllib_request() -> ModuleType:
    import urllib.request  # see _urllib3

    return urllib.request


class HttpError(NetworkError):
    """A GET that failed: ``url`` and a short ``reason`` for callers that
    word their own message (e.g. naming the Debian mirror)."""

    def __init__(self, url: str, reason: str, hint: str):
        self.url, self.reason = url, reason
        super().__init__(f"Cannot get {url}: {reason}.", hint)


class NotFoundError(HttpError):
    """The server (or the file:// path) has no such file: HTTP 404 or 410."""


@dataclass(frozen=True)
class HttpResult:
    """The body of a GET (None when the server said 304 Not Modified), the
    validators to send next time, its Content-Type and the URL it came from
    after redirects."""

    data: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""
    url: str = ""


def check_url(url: str, what: str = "URL", hint: str | None = None) -> str:
    """``url`` when it is an http(s):// URL with a host or a file:// URL;
    otherwise an InputError naming it (``what`` says what the URL is for)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise InputError(f"The {what} {url!r} is not a valid URL ({exc}).",
                         hint or "Give an http://, https:// or file:// URL.") from exc
    if parts.scheme not in SCHEMES or (parts.scheme != "file" and not parts.hostname):
        raise InputError(f"The {what} {url!r} is not an http://, https:// or file:// URL.",
                         hint or "Give a URL such as http://deb.debian.org/debian or file:///srv/mirror.")
    return url


BACKOFF = 0.5  # seconds; retries of overloaded answers wait 0, 2x, 4x this


def _retries() -> urllib3.Retry:
    # A refused or failed connection is retried once, immediately (a server
    # that is down stays down; an offline run must fail fast and fall back to
    # the cache); overloaded answers (429, 5xx) back off, honouring Retry-After.
    return _urllib3().Retry(total=RETRIES, connect=1, read=RETRIES, status=RETRIES, redirect=5,
                         backoff_factor=BACKOFF, status_forcelist=_RETRY_STATUS,
                         allowed_methods=frozenset({"GET"}), raise_on_status=False)


_pools_lock = threading.Lock()
_pools: dict[str | None, urllib3.PoolManager] = {}


def _pool(url: str) -> urllib3.PoolManager:
    """The pool for ``url``: direct, or through the proxy the environment names."""
    parts = urllib.parse.urlsplit(url)
    proxy = _urllib_request().getproxies().get(parts.scheme)
    if proxy and _urllib_request().proxy_bypass(parts.hostname or ""):
        proxy = None
    with _pools_lock:
        pool = _pools.get(proxy)
        if pool is None:
            headers = {"User-Agent": USER_AGENT}
            pool = _urllib3().ProxyManager(proxy, headers=headers) if proxy else _urllib3().PoolManager(headers=headers)
            _pools[proxy] = pool
        return pool


def _local_path(url: str) -> Path:
    parts = urllib.parse.urlsplit(url)
    return Path(_urllib_request().url2pathname(urllib.parse.unquote(parts.path)))


def get(url: str, *, timeout: float = 30.0, etag: str | None = None, last_modified: str | None = None,
        accept: str | None = None) -> HttpResult:
    """GET ``url`` into memory (for small files: Release files, index pages).
    With ``etag``/``last_modified`` the request is conditional and ``data`` is
    None when the server answers 304; ``accept`` is sent as Accept."""
    check_url(url)
    if url.startswith("file:"):
        return HttpResult(_read_local(url), url=url)
    headers = {"Accept": accept} if accept else {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    for attempt in range(RETRIES):
        response = _request(url, timeout, headers)
        try:
            if response.status == 304:
                return HttpResult(None, etag, last_modified, url=_final_url(url, response))
            body = response.data
            return HttpResult(body, response.headers.get("ETag"), response.headers.get("Last-Modified"),
                              response.headers.get("Content-Type", ""), _final_url(url, response))
        except (_urllib3().exceptions.ProtocolError, _urllib3().exceptions.ReadTimeoutError, OSError) as exc:
            if attempt == RETRIES - 1:
                raise _broken_body(url, exc) from exc
        finally:
            response.release_conn()
    raise AssertionError("unreachable")


def download(url: str, dest: Path, *, timeout: float = 30.0) -> int:
    """Stream ``url`` into the file ``dest`` (created or truncated); the byte
    count.  A body that breaks off is fetched again from the start."""
    check_url(url)
    if url.startswith("file:"):
        source = _local_path(url)
        try:
            shutil.copyfile(source, dest)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFoundError(url, "no such file", "Check the URL.") from exc
        except OSError as exc:
            raise HttpError(url, exc.strerror or str(exc), "Check the path and its permissions.") from exc
        return dest.stat().st_size
    for attempt in range(RETRIES):
        response = _request(url, timeout, {})
        try:
            size = 0
            with open(dest, "wb") as out:
                for block in response.stream(_CHUNK):
                    out.write(block)
                    size += len(block)
            return size
        except (_urllib3().exceptions.ProtocolError, _urllib3().exceptions.ReadTimeoutError) as exc:
            if attempt == RETRIES - 1:
                raise _broken_body(url, exc) from exc
        finally:
            response.release_conn()
    raise AssertionError("unreachable")


def _request(url: str, timeout: float, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
    """The answer to a GET with status < 400 or 304 (body not yet read)."""
    try:
        response = _pool(url).request("GET", url, headers=headers, preload_content=False, retries=_retries(),
                                      timeout=_urllib3().Timeout(connect=min(timeout, 15.0), read=timeout))
    except _urllib3().exceptions.LocationParseError as exc:
        raise InputError(f"{url!r} is not a valid URL ({exc}).", "Check the URL.") from exc
    except _urllib3().exceptions.MaxRetryError as exc:
        raise HttpError(url, _describe(exc.reason or exc), _NETWORK_HINT) from exc
    except (_urllib3().exceptions.HTTPError, OSError) as exc:
        raise HttpError(url, _describe(exc), _NETWORK_HINT) from exc
    if response.status == 304 or response.status < 400:
        return response
    response.drain_conn()
    response.release_conn()
    answer = f"HTTP {response.status} {response.reason or ''}".rstrip()
    if response.status in (404, 410):
        raise NotFoundError(url, answer, "Check the URL.")
    raise HttpError(url, answer, "The server may be overloaded or refusing this client; try again later.")


def _final_url(url: str, response: urllib3.BaseHTTPResponse) -> str:
    """``url`` after the redirects urllib3 followed (Location may be relative)."""
    final = url
    for step in (response.retries.history if response.retries else ()):
        if step.redirect_location:
            final = urllib.parse.urljoin(final, step.redirect_location)
    return final


def _read_local(url: str) -> bytes:
    try:
        return _local_path(url).read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise NotFoundError(url, "no such file", "Check the URL.") from exc
    except OSError as exc:
        raise HttpError(url, exc.strerror or str(exc), "Check the path and its permissions.") from exc


def _broken_body(url: str, exc: BaseException) -> HttpError:
    return HttpError(url, f"the download broke off {RETRIES} times ({_describe(exc)})", _NETWORK_HINT)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    # urllib3 wraps the socket error in a long repr; keep its last, telling part
    if "Failed to establish a new connection:" in text:
        text = text.split("Failed to establish a new connection:", 1)[1]
    return " ".join(text.split()).strip(" ')\"") or type(exc).__name__
