"""The Debian stage's part of the cache store (:class:`fcslim.cache.store.Cache`),
where every read is checked against what the entry claims to be:

* ``debian`` (a blob namespace): ``.deb`` files and Packages/Contents indexes,
  keyed by the SHA-256 the signed Release (indexes) or the signed Packages
  index (packages) gives for them, and hashed again on every read;
* ``debian-index``: the last Release fetched from each mirror and suite (for
  conditional requests and offline use; its signature is checked again with
  gpgv each time it is used) and the parsed Packages/Contents maps, keyed by
  their index's SHA-256 and checked against their own recorded SHA-256.

An entry that fails its check (a corrupted, truncated or edited file, a
gzip or JSON that does not decode) is discarded and fetched or rebuilt; it is
never a permanent failure.  Downloads are made under the key's lock, so
concurrent runs fetch each file once.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from ..cache.store import Cache, CacheIntegrityError, cache_key
from ..core import http
from .errors import ChecksumError

BLOB_NAMESPACE = "debian"
INDEX_NAMESPACE = "debian-index"
PARSED_FORMAT = 3  # bump when the parsed-index layout changes
_LEGACY_DIRS = ("release", "blobs", "parsed")  # fcslim 0.1's own layout under debian/


@dataclass(frozen=True)
class CachedRelease:
    """The Release of one mirror and suite as last fetched: the InRelease
    bytes, or the Release and (when published) Release.gpg bytes."""

    kind: str  # "InRelease" or "Release"
    data: bytes
    signature: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched: float = 0.0

    def to_json(self) -> bytes:
        document = asdict(self)
        document["data"] = base64.b64encode(self.data).decode()
        document["signature"] = base64.b64encode(self.signature).decode() if self.signature is not None else None
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "CachedRelease":
        document = json.loads(raw)
        signature = document.get("signature")
        return cls(kind=str(document["kind"]), data=base64.b64decode(document["data"]),
                   signature=base64.b64decode(signature) if signature is not None else None,
                   etag=document.get("etag"), last_modified=document.get("last_modified"),
                   fetched=float(document.get("fetched") or 0.0))


class DebianStore:
    """The ``debian`` and ``debian-index`` namespaces of one cache root."""

    def __init__(self, root: Path | None = None):
        self.blobs = Cache(BLOB_NAMESPACE, root, kind="blob")
        self.indexes = Cache(INDEX_NAMESPACE, root)
        for name in _LEGACY_DIRS:
            legacy = self.blobs.path / name
            if legacy.is_dir():
                shutil.rmtree(legacy, ignore_errors=True)

    # -- packages and raw indexes, by their signed SHA-256

    def blob(self, sha256: str) -> Path | None:
        """The cached file whose bytes hash to ``sha256`` (hashed now), or None."""
        return self.blobs.get_file(sha256)

    def fetch_blob(self, urls: list[str], sha256: str, what: str, timeout: float = 30.0) -> Path:
        """The cached file of ``sha256``, downloaded from the first of ``urls``
        that has it when it is not cached (or was corrupt).  A download that
        does not hash to ``sha256`` raises :class:`ChecksumError` and stores
        nothing; when no URL has the file, the last NotFoundError is raised."""
        with self.blobs.lock(sha256):
            cached = self.blobs.get_file(sha256)
            if cached is not None:
                return cached
            missing: http.NotFoundError | None = None
            for url in urls:
                with tempfile.TemporaryDirectory(prefix="fcslim-download-") as tmp:
                    part = Path(tmp) / "download"
                    try:
                        size = http.download(url, part, timeout=timeout)
                    except http.NotFoundError as exc:
                        missing = exc
                        continue
                    try:
                        return self.blobs.put_file(sha256, part, sha256=sha256, move=True)
                    except CacheIntegrityError as exc:
                        raise ChecksumError(
                            f"{what} from {url} does not match its published checksum ({size} bytes, "
                            f"SHA256 expected {sha256}).",
                            "The mirror may be corrupt or tampered with; try again or use another mirror.",
                        ) from exc
            assert missing is not None, "fetch_blob needs at least one URL"
            raise missing

    # -- Release files

    @staticmethod
    def release_key(mirror: str, suite: str) -> str:
        return cache_key("debian-release", mirror, suite)

    def load_release(self, mirror: str, suite: str) -> CachedRelease | None:
        key = self.release_key(mirror, suite)
        path = self.indexes.get_file(key, verify=True)
        if path is None:
            return None
        try:
            return CachedRelease.from_json(path.read_bytes())
        except (OSError, ValueError, KeyError, TypeError):
            self.indexes.discard(key)
            return None

    def save_release(self, mirror: str, suite: str, release: CachedRelease) -> None:
        self.indexes.put_file(self.release_key(mirror, suite), release.to_json())

    # -- parsed indexes, by the SHA-256 of the index they were parsed from

    @staticmethod
    def parsed_key(kind: str, index_sha256: str) -> str:
        return cache_key("debian-parsed", kind, index_sha256, PARSED_FORMAT)

    def load_parsed(self, kind: str, index_sha256: str) -> object | None:
        """The parsed map of an index, or None when it is not cached or its
        entry does not decode (then it is discarded, to be rebuilt)."""
        key = self.parsed_key(kind, index_sha256)
        path = self.indexes.get_file(key, verify=True)
        if path is None:
            return None
        try:
            return json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, EOFError, zlib.error, ValueError):
            self.indexes.discard(key)
            return None

    def save_parsed(self, kind: str, index_sha256: str, document: object) -> None:
        data = gzip.compress(json.dumps(document, separators=(",", ":")).encode(), 3, mtime=0)
        self.indexes.put_file(self.parsed_key(kind, index_sha256), data)


def age(seconds_since_epoch: float) -> str:
    """How long ago, in words (for the offline warning)."""
    seconds = max(0.0, time.time() - seconds_since_epoch)
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"
