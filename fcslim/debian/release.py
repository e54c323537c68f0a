"""Release files: fetched on every use (conditionally: a 304 costs one small
request), authenticated with :mod:`fcslim.debian.signatures`, and parsed into
the list of indexes with their SHA-256 and size.

``dists/<suite>/InRelease`` is tried first, then ``Release`` with
``Release.gpg``.  The last Release fetched is kept in the cache store; when the
mirror cannot be reached, it is checked again (same signature rules) and used
with a warning, and the indexes it names come from the cache.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from ..core import http
from ..core.errors import DebianError
from .deb822 import parse_deb822
from .errors import ArchiveUnreachableError
from .signatures import Trust, Verified, verify_detached, verify_inrelease
from .store import CachedRelease, DebianStore, age


@dataclass(frozen=True)
class IndexEntry:
    path: str
    sha256: str
    size: int


@dataclass
class ReleaseFile:
    """A parsed Release file and how far it is trusted."""

    mirror: str
    suite: str
    fields: dict[str, str]
    entries: dict[str, IndexEntry]
    authentication: str  # "signed: <key>" or "unauthenticated: <why>"
    from_cache: bool = False

    @property
    def authenticated(self) -> bool:
        return self.authentication.startswith("signed")

    @property
    def architectures(self) -> tuple[str, ...]:
        return tuple(self.fields.get("Architectures", "").split())

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.fields.get("Components", "").split())

    @property
    def acquire_by_hash(self) -> bool:
        return self.fields.get("Acquire-By-Hash", "").lower() == "yes"


def parse_release(text: str, mirror: str, suite: str, authentication: str, from_cache: bool = False) -> ReleaseFile:
    stanzas = parse_deb822(text)
    if not stanzas or "SHA256" not in stanzas[0]:
        raise DebianError(
            f"The Release file of {mirror} suite {suite} has no SHA256 list.",
            "The mirror may be incomplete or not a Debian archive; pass another with --debian-mirror.",
        )
    fields = stanzas[0]
    entries: dict[str, IndexEntry] = {}
    for line in fields["SHA256"].splitlines():
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{64}", parts[0]) and parts[1].isdigit():
            entries[parts[2]] = IndexEntry(parts[2], parts[0], int(parts[1]))
    return ReleaseFile(mirror, suite, fields, entries, authentication, from_cache)


def _verify(cached: CachedRelease, trust: Trust, what: str) -> Verified:
    if cached.kind == "InRelease":
        return verify_inrelease(cached.data, trust, what)
    return verify_detached(cached.data, cached.signature, trust, what)


def fetch_release(mirror: str, suite: str, trust: Trust, store: DebianStore, *, timeout: float = 30.0,
                  warn: Callable[[str], None] = lambda text: None) -> ReleaseFile:
    """The authenticated Release of ``suite`` on ``mirror`` (see the module
    docstring); SignatureError when it is not trusted, ArchiveUnreachableError
    when the mirror is down and nothing is cached."""
    base = f"{mirror}/dists/{suite}"
    cached = store.load_release(mirror, suite)
    conditional = cached if cached is not None and cached.kind == "InRelease" else None
    try:
        try:
            answer = http.get(f"{base}/InRelease", timeout=timeout,
                              etag=conditional.etag if conditional else None,
                              last_modified=conditional.last_modified if conditional else None)
        except http.NotFoundError:
            fresh = _fetch_detached(base, mirror, suite, timeout)
        else:
            if answer.data is None and conditional is not None:
                fresh = conditional
            else:
                fresh = CachedRelease("InRelease", answer.data or b"", None, answer.etag, answer.last_modified,
                                      time.time())
    except http.HttpError as exc:
        reason = f"Cannot reach the Debian mirror for {exc.url}: {exc.reason}."
        if cached is None:
            raise ArchiveUnreachableError(
                reason, "Check the network or the mirror (--debian-mirror); nothing is cached for "
                f"{suite} from {mirror} yet.") from exc
        verified = _verify(cached, trust, f"The cached Release of {base}")
        warn(f"{reason} Using the Release of {suite} cached {age(cached.fetched)} ago and the indexes it names.")
        return parse_release(verified.text, mirror, suite, verified.authentication, from_cache=True)
    verified = _verify(fresh, trust, f"The Release of {base}")
    if cached is None or _changed(cached, fresh):
        store.save_release(mirror, suite, fresh)
    return parse_release(verified.text, mirror, suite, verified.authentication)


def _changed(old: CachedRelease, new: CachedRelease) -> bool:
    """Whether ``new`` says more than ``old`` (mirrors behind a CDN often
    ignore conditional requests and send the same bytes again)."""
    return (old.kind, old.data, old.signature, old.etag, old.last_modified) != (
        new.kind, new.data, new.signature, new.etag, new.last_modified)


def _fetch_detached(base: str, mirror: str, suite: str, timeout: float) -> CachedRelease:
    try:
        release = http.get(f"{base}/Release", timeout=timeout).data or b""
    except http.NotFoundError as exc:
        raise DebianError(
            f"{mirror} has no Debian release '{suite}' (no dists/{suite}/InRelease or Release).",
            "Debian 9 and 10 moved to http://archive.debian.org/debian: set the profile's debian.mirror "
            "or pass --debian-mirror with a mirror that carries this release.",
        ) from exc
    try:
        signature: bytes | None = http.get(f"{base}/Release.gpg", timeout=timeout).data or b""
    except http.NotFoundError:
        signature = None
    return CachedRelease("Release", release, signature, fetched=time.time())
