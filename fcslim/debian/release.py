"""Release files: fetched on every use (conditionally: a 304 costs one small
request), authenticated with :mod:`fcslim.debian.signatures`, and parsed into
the list of indexes with their SHA-256 and size.

``dists/<suite>/InRelease`` is tried first, then ``Release`` with
``Release.gpg``.  The last Release fetched is kept in the cache store; when the
mirror cannot be reached, it is checked again (same signature rules) and used
with a warning, and the indexes it names come from the cache.

A Release whose ``Valid-Until`` has passed is refused as apt refuses it
(:class:`ExpiredReleaseError`, exit 7), fresh or cached: a signature proves who
wrote a Release, not that it is current, and an attacker who replays an old
signed Release can hide every security fix since.  Debian's security suites
carry a Valid-Until about a week ahead; a release's main suite carries none.
``--allow-expired-release`` accepts one (a frozen snapshot on purpose) with a
warning, recorded with the Release's authentication in the bundle.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable

from ..core import http
from ..core.errors import DebianError
from .deb822 import parse_deb822
from .errors import ArchiveUnreachableError, ExpiredReleaseError
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
        what = f"The cached Release of {base}"
        verified = _verify(cached, trust, what)
        release = parse_release(verified.text, mirror, suite, verified.authentication, from_cache=True)
        check_valid_until(release, trust, what, warn)
        warn(f"{reason} Using the Release of {suite} cached {age(cached.fetched)} ago and the indexes it names.")
        return release
    what = f"The Release of {base}"
    verified = _verify(fresh, trust, what)
    release = parse_release(verified.text, mirror, suite, verified.authentication)
    check_valid_until(release, trust, what, warn)
    if cached is None or _changed(cached, fresh):
        store.save_release(mirror, suite, fresh)
    return release


def check_valid_until(release: ReleaseFile, trust: Trust, what: str, warn: Callable[[str], None],
                      now: datetime | None = None) -> None:
    """Refuse a Release past its ``Valid-Until`` (see the module docstring);
    with ``trust.allow_expired`` warn, and say so in its authentication."""
    stated = release.fields.get("Valid-Until")
    if not stated:
        return
    try:
        expiry = parsedate_to_datetime(stated)
    except (TypeError, ValueError):
        raise DebianError(
            f"{what} has a Valid-Until that is not a date ({stated!r}), so whether it is current cannot be told.",
            "Use another mirror (--debian-mirror), or pass --allow-expired-release to accept it anyway.",
        ) from None
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    if now <= expiry:
        return
    if trust.allow_expired:
        release.authentication += f"; expired {stated}, accepted because of --allow-expired-release"
        warn(f"{what} expired on {stated} (Valid-Until); used anyway because of --allow-expired-release, "
             "so security fixes published since may be missing.")
        return
    raise ExpiredReleaseError(
        f"{what} expired on {stated} (its Valid-Until): the mirror has stopped updating, or an old signed "
        "Release is being replayed to hide later security fixes.",
        "Use an up-to-date mirror (--debian-mirror, or the profile's debian.mirror); to build from a "
        "frozen snapshot on purpose, pass --allow-expired-release (recorded in the bundle).",
    )


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
