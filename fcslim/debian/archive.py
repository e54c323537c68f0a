"""The Debian archive: signed Release files, Packages and Contents indexes,
package lookup by soname, verified downloads and safe ``.deb`` reading.

Trust chain, as apt has it, without touching the host's apt state:

1. ``dists/<suite>/InRelease`` (or ``Release`` + ``Release.gpg``) is fetched on
   every use (it is small) and checked with ``gpgv`` against the Debian archive
   keyring (``/usr/share/keyrings/debian-archive-keyring.gpg`` or ``keyring=``).
   When gpgv or the keyring is missing the Release is used unauthenticated and
   :attr:`ReleaseFile.authentication` says so; a *bad* signature is always an
   error.
2. Every index (``main/binary-<arch>/Packages.xz``, ``main/Contents-<arch>.gz``)
   must match the SHA256 and size the Release lists.  Indexes are cached by that
   hash, so an index is downloaded again only when the Release names a new one.
3. Every ``.deb`` must match the SHA256 and size of its Packages stanza.

When the mirror cannot be reached, the last Release fetched from it (checked
again) and the indexes it names are used from the cache, with a warning; with
nothing cached that is a :class:`~fcslim.core.errors.NetworkError`.

``.deb`` files are never unpacked to disk by path.  :class:`DebArchive` reads
the ``ar`` container and the data tarball itself, checks *every* member first
(no absolute names, no ``..``, no hard link outside the archive, no relative
symbolic link climbing above the package root, no device, FIFO or other special
file) and refuses the whole package if one is hostile.  Callers then ask for the
bytes of a member by name; symbolic links are followed inside the archive's own
member table (an absolute link target means the package root, as dpkg would
install it), so nothing outside the archive is ever read or written.
"""

from __future__ import annotations

import bz2
import fnmatch
import gzip
import io
import json
import lzma
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from fcslim.cache.location import cache_subdir
from fcslim.core.errors import DebianError, NetworkError, UnsafeArchiveError

DEFAULT_KEYRINGS = (
    Path("/usr/share/keyrings/debian-archive-keyring.gpg"),
    Path("/usr/share/keyrings/debian-archive-keyring.pgp"),
)
USER_AGENT = "fcslim (Debian library fetcher; +https://github.com/)"
MULTIARCH_TRIPLET = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
# Decompressed size above which a data tarball is refused (a zip bomb guard).
MAX_DATA_TAR_BYTES = 4 * 1024**3
PARSED_FORMAT = 2  # bump when the parsed-index cache layout changes


# -- errors -------------------------------------------------------------------


class ArchiveUnreachableError(NetworkError):
    """The Debian mirror cannot be reached and nothing usable is cached."""


class SignatureError(DebianError):
    """A Release file whose signature does not verify."""


class ChecksumError(DebianError):
    """An index or package that does not match its published SHA256 or size."""


class ArchitectureError(DebianError):
    """The mirror, the package or the library is for another architecture."""


class NoPackageError(DebianError):
    """No package of the release provides a soname."""


# -- small parsers -------------------------------------------------------------


def parse_deb822(text: str) -> Iterator[dict[str, str]]:
    """The stanzas of a deb822 file (Packages, Release, control, DEP-5
    copyright) as dicts; continuation lines are joined with newlines."""
    stanza: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
            continue
        if line.startswith("#"):
            continue
        if line[0] in " \t":
            if key is not None:
                stanza[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip()
        stanza[key] = value.strip()
    if stanza:
        yield stanza


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_fragment(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        si, sj = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        na, nb = int(a[si:i] or 0), int(b[sj:j] or 0)
        if na != nb:
            return -1 if na < nb else 1
    return 0


def _split_version(version: str) -> tuple[int, str, str]:
    epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
    return int(epoch or 0), upstream, revision


def compare_versions(a: str, b: str) -> int:
    """Compare two Debian package versions as dpkg does: -1, 0 or 1."""
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_fragment(ua, ub) or _compare_fragment(ra, rb)


def licenses_from_copyright(text: str) -> str:
    """The licences a DEP-5 ``debian/copyright`` names (its ``License:`` short
    names, in order of first appearance, joined by ", "), or "see copyright"
    when the file is free-form."""
    if not re.search(r"^Format:\s*\S+", text, re.MULTILINE):
        return "see copyright"
    names: list[str] = []
    for stanza in parse_deb822(text):
        value = stanza.get("License")
        if not value:
            continue
        short = value.split("\n", 1)[0].strip()
        if short and short not in names:
            names.append(short)
    return ", ".join(names) if names else "see copyright"


from fcslim.core.hashing import file_sha256 as sha256_file  # noqa: E402


# -- the network -----------------------------------------------------------------


@dataclass
class HttpResult:
    data: bytes | None  # None: not modified since the cached copy
    etag: str | None = None
    last_modified: str | None = None


def http_get(url: str, *, timeout: float = 30.0, etag: str | None = None,
             last_modified: str | None = None, dest: Path | None = None) -> HttpResult:
    """GET ``url`` (http, https or file).  With ``dest`` the body is streamed
    to that file and ``data`` is empty bytes.  Raises NetworkError (naming the
    URL and the reason) when the server cannot be reached or answers with an
    error; a 404 raises :class:`FileNotFoundError`."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if etag:
        request.add_header("If-None-Match", etag)
    if last_modified:
        request.add_header("If-Modified-Since", last_modified)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            headers = response.headers
            if dest is not None:
                with open(dest, "wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
                body = b""
            else:
                body = response.read()
            return HttpResult(body, headers.get("ETag"), headers.get("Last-Modified"))
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return HttpResult(None, etag, last_modified)
        if exc.code in (404, 410):
            raise FileNotFoundError(url) from exc
        raise NetworkError(
            f"The Debian mirror answered {exc.code} {exc.reason} for {url}.",
            "Check the mirror URL (the profile's debian.mirror, or --debian-mirror) and try again later.",
        ) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, FileNotFoundError) or (isinstance(reason, OSError) and reason.errno == 2):
            raise FileNotFoundError(url) from exc
        raise NetworkError(
            f"Cannot reach the Debian mirror for {url}: {reason}.",
            "Check the network or pass another mirror with --debian-mirror; indexes fetched before are "
            "used from the cache when there are any.",
        ) from exc
    except (TimeoutError, OSError) as exc:
        raise NetworkError(
            f"Cannot reach the Debian mirror for {url}: {exc}.",
            "Check the network or pass another mirror with --debian-mirror.",
        ) from exc


# -- Release files -------------------------------------------------------------


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
    stanzas = list(parse_deb822(text))
    if not stanzas or "SHA256" not in stanzas[0]:
        raise DebianError(
            f"The Release file of {mirror} suite {suite} has no SHA256 list.",
            "The mirror may be incomplete or not a Debian archive; pass another with --debian-mirror.",
        )
    fields = stanzas[0]
    entries: dict[str, IndexEntry] = {}
    for line in fields["SHA256"].splitlines():
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            entries[parts[2]] = IndexEntry(parts[2], parts[0], int(parts[1]))
    return ReleaseFile(mirror, suite, fields, entries, authentication, from_cache)


def find_keyring(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit if Path(explicit).is_file() else None
    env = os.environ.get("FCSLIM_DEBIAN_KEYRING")
    if env:
        return Path(env) if Path(env).is_file() else None
    for candidate in DEFAULT_KEYRINGS:
        if candidate.is_file():
            return candidate
    return None


def _gpgv_status(argv: list[str], what: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    good = [line.split(None, 3) for line in proc.stdout.splitlines() if line.startswith("[GNUPG:] VALIDSIG")]
    if proc.returncode != 0 or not good:
        detail = " ".join((proc.stderr or proc.stdout).split())[-300:]
        raise SignatureError(
            f"The signature of {what} does not verify against the Debian archive keyring ({detail}).",
            "The mirror may be tampered with or out of date; use another mirror with --debian-mirror. "
            "If the keyring is too old for this release, install a newer debian-archive-keyring or set "
            "FCSLIM_DEBIAN_KEYRING.",
        )
    return "signed: " + ", ".join(fields[2] for fields in good)


def verify_clearsigned(data: bytes, keyring: Path | None, what: str) -> tuple[str, str]:
    """(signed text, authentication) of an InRelease file.  With gpgv and a
    keyring the text is what gpgv says was signed; without them the clearsign
    armour is stripped and the text is marked unauthenticated."""
    gpgv = shutil.which("gpgv")
    if gpgv and keyring is not None:
        with tempfile.TemporaryDirectory(prefix="fcslim-gpgv-") as tmp:
            signed = Path(tmp) / "InRelease"
            signed.write_bytes(data)
            out = Path(tmp) / "Release"
            status = _gpgv_status(
                [gpgv, "--keyring", str(keyring), "--status-fd", "1", "--output", str(out), str(signed)], what)
            return out.read_text(encoding="utf-8", errors="replace"), status
    reason = "gpgv is not installed" if not gpgv else "no Debian archive keyring was found"
    return _strip_clearsign(data.decode("utf-8", errors="replace"), what), f"unauthenticated: {reason}"


def _strip_clearsign(text: str, what: str) -> str:
    if text.count("-----BEGIN PGP SIGNED MESSAGE-----") != 1:
        raise DebianError(f"{what} is not a single clearsigned Release file.",
                          "Use a Debian mirror that publishes a normal InRelease.")
    body = text.split("-----BEGIN PGP SIGNED MESSAGE-----", 1)[1]
    head, _, body = body.partition("\n\n")
    body = body.split("\n-----BEGIN PGP SIGNATURE-----", 1)[0]
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body.splitlines()) + "\n"


def verify_detached(release: bytes, signature: bytes, keyring: Path | None, what: str) -> str:
    gpgv = shutil.which("gpgv")
    if gpgv and keyring is not None:
        with tempfile.TemporaryDirectory(prefix="fcslim-gpgv-") as tmp:
            rel = Path(tmp) / "Release"
            sig = Path(tmp) / "Release.gpg"
            rel.write_bytes(release)
            sig.write_bytes(signature)
            return _gpgv_status([gpgv, "--keyring", str(keyring), "--status-fd", "1", str(sig), str(rel)], what)
    reason = "gpgv is not installed" if not gpgv else "no Debian archive keyring was found"
    return f"unauthenticated: {reason}"


# -- index data -------------------------------------------------------------------


@dataclass(frozen=True)
class PackageEntry:
    """One binary package as a Packages index lists it."""

    name: str
    version: str
    architecture: str
    filename: str
    size: int
    sha256: str
    source: str
    source_version: str
    mirror: str
    suite: str

    @property
    def url(self) -> str:
        return f"{self.mirror}/{self.filename}"


_PACKAGE_FIELDS = ("Package", "Version", "Architecture", "Filename", "Size", "SHA256", "Source")


def parse_packages(stream: Iterable[str], mirror: str, suite: str) -> dict[str, PackageEntry]:
    """Package name -> newest entry, from the lines of a Packages index."""
    result: dict[str, PackageEntry] = {}
    fields: dict[str, str] = {}

    def flush() -> None:
        if all(k in fields for k in ("Package", "Version", "Filename", "SHA256", "Size")):
            source = fields.get("Source", fields["Package"])
            src_name, _, rest = source.partition(" ")
            src_version = rest.strip(" ()") or fields["Version"]
            entry = PackageEntry(
                name=fields["Package"], version=fields["Version"],
                architecture=fields.get("Architecture", ""), filename=fields["Filename"],
                size=int(fields["Size"]), sha256=fields["SHA256"], source=src_name,
                source_version=src_version, mirror=mirror, suite=suite,
            )
            old = result.get(entry.name)
            if old is None or compare_versions(entry.version, old.version) > 0:
                result[entry.name] = entry
        fields.clear()

    for line in stream:
        if line in ("\n", "") or not line.strip():
            flush()
            continue
        if line[0] in " \t":
            continue
        key, sep, value = line.partition(":")
        if sep and key in _PACKAGE_FIELDS:
            fields[key] = value.strip()
    flush()
    return result


def std_library_dirs(debian_arch: str) -> tuple[str, ...]:
    """The directories ld.so searches by default, relative to / (as Contents
    writes paths)."""
    triplet = MULTIARCH_TRIPLET.get(debian_arch, "")
    dirs = [f"lib/{triplet}", f"usr/lib/{triplet}"] if triplet else []
    return tuple(dirs + ["lib", "usr/lib", "lib64", "usr/lib64"])


_LIB_PREFIXES = ("lib/", "usr/lib/", "lib64/", "usr/lib64/")
_SKIPPED_LIB_TREES = ("usr/lib/debug/", "usr/lib/python", "usr/lib/jvm/")
_SO_NAME = re.compile(r"\.so(\.[0-9][^/]*)?$")


def parse_contents(stream: Iterable[bytes]) -> dict[str, list[list[str]]]:
    """File name -> [[path, package, ...], ...] for the shared libraries of a
    Contents index: ``*.so`` and ``*.so.*`` files in the library directories and
    at most two levels below them (``blas/libblas.so.3`` alternatives), never
    debug symbols or Python extension modules."""
    found: dict[str, list[list[str]]] = {}
    for raw in stream:
        if b".so" not in raw:
            continue
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            continue
        path, locations = parts[0].strip(), parts[1]
        if path.startswith("./"):
            path = path[2:]
        if not path.startswith(_LIB_PREFIXES) or path.startswith(_SKIPPED_LIB_TREES):
            continue
        if path.count("/") > 4:
            continue
        name = posixpath.basename(path)
        if not _SO_NAME.search(name):
            continue
        packages = [loc.rsplit("/", 1)[-1] for loc in locations.split(",") if loc]
        found.setdefault(name, []).append([path] + packages)
    return found


# -- the archive -------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120]


@dataclass
class DebianArchive:
    """One suite (``bullseye``, ``bullseye-security``) of one mirror, for one
    architecture and component.  Indexes and packages are cached under
    ``cache_dir`` (default: the fcslim cache's ``debian/``)."""

    mirror: str
    suite: str
    arch: str
    component: str = "main"
    keyring: Path | None = None
    cache_dir: Path | None = None
    timeout: float = 30.0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mirror = self.mirror.rstrip("/")
        self.cache_dir = Path(self.cache_dir) if self.cache_dir else cache_subdir("debian")
        self._release: ReleaseFile | None = None
        self._packages: dict[str, PackageEntry] | None = None
        self._contents: dict[str, list[list[str]]] | None = None

    # -- cache paths
    @property
    def _release_dir(self) -> Path:
        path = self.cache_dir / "release" / _slug(self.mirror) / _slug(self.suite)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _blob(self, sha256: str) -> Path:
        path = self.cache_dir / "blobs" / sha256[:2]
        path.mkdir(parents=True, exist_ok=True)
        return path / sha256

    def _parsed(self, kind: str, sha256: str) -> Path:
        path = self.cache_dir / "parsed"
        path.mkdir(parents=True, exist_ok=True)
        return path / f"{kind}-{sha256}-v{PARSED_FORMAT}.json.gz"

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
            warnings.warn(text, stacklevel=3)

    # -- Release
    @property
    def release(self) -> ReleaseFile:
        if self._release is None:
            self._release = self._load_release()
            self._check_architecture(self._release)
        return self._release

    def _check_architecture(self, release: ReleaseFile) -> None:
        arches = release.architectures
        if arches and self.arch not in arches:
            raise ArchitectureError(
                f"Debian {self.suite} on {self.mirror} has no packages for architecture {self.arch} "
                f"(it carries {', '.join(a for a in arches if a != 'all')}).",
                "Pick a runtime profile whose arch this release supports, or a mirror that carries it.",
            )
        if release.components and self.component not in {c.rsplit("/", 1)[-1] for c in release.components}:
            raise DebianError(f"Debian {self.suite} on {self.mirror} has no component {self.component}.",
                              "Use a mirror of the full Debian archive.")

    def _load_release(self) -> ReleaseFile:
        keyring = find_keyring(self.keyring)
        base = f"{self.mirror}/dists/{self.suite}"
        cached = self._release_dir / "InRelease"
        meta_path = self._release_dir / "InRelease.meta.json"
        meta = {}
        if cached.is_file() and meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError:
                meta = {}
        what = f"{base}/InRelease"
        try:
            result = http_get(what, timeout=self.timeout,
                              etag=meta.get("etag") if cached.is_file() else None,
                              last_modified=meta.get("last_modified") if cached.is_file() else None)
        except FileNotFoundError:
            return self._load_detached_release(base, keyring)
        except NetworkError as exc:
            if cached.is_file():
                self._warn(f"{exc.message} Using the Release of {self.suite} cached "
                           f"{_age(cached)} ago and the indexes it names.")
                text, auth = verify_clearsigned(cached.read_bytes(), keyring, f"cached {what}")
                return parse_release(text, self.mirror, self.suite, auth, from_cache=True)
            raise ArchiveUnreachableError(
                exc.message, "Check the network or the mirror (--debian-mirror); nothing is cached for "
                f"{self.suite} from {self.mirror} yet.") from exc
        data = cached.read_bytes() if result.data is None else result.data
        text, auth = verify_clearsigned(data, keyring, what)
        if result.data is not None:
            _atomic_write(cached, data)
            meta_path.write_text(json.dumps({"etag": result.etag, "last_modified": result.last_modified,
                                             "fetched": time.time()}))
        return parse_release(text, self.mirror, self.suite, auth)

    def _load_detached_release(self, base: str, keyring: Path | None) -> ReleaseFile:
        try:
            release = http_get(f"{base}/Release", timeout=self.timeout).data or b""
        except FileNotFoundError as exc:
            raise DebianError(
                f"{self.mirror} has no Debian release '{self.suite}' (no dists/{self.suite}/InRelease or Release).",
                "Debian 9 and 10 moved to http://archive.debian.org/debian: set the profile's debian.mirror "
                "or pass --debian-mirror with a mirror that carries this release.",
            ) from exc
        try:
            signature = http_get(f"{base}/Release.gpg", timeout=self.timeout).data or b""
            auth = verify_detached(release, signature, keyring, f"{base}/Release")
        except FileNotFoundError:
            auth = "unauthenticated: the mirror publishes no Release.gpg"
        _atomic_write(self._release_dir / "Release", release)
        return parse_release(release.decode("utf-8", errors="replace"), self.mirror, self.suite, auth)

    # -- indexes
    def index_entry(self, *candidates: str) -> IndexEntry | None:
        """The first of ``candidates`` (paths relative to dists/<suite>) the
        Release lists."""
        for name in candidates:
            entry = self.release.entries.get(name)
            if entry is not None:
                return entry
        return None

    def fetch_index(self, entry: IndexEntry) -> Path:
        """The cached, checksum-verified file of an index the Release lists."""
        blob = self._blob(entry.sha256)
        if blob.is_file() and blob.stat().st_size == entry.size:
            return blob
        if self.release.from_cache:
            raise ArchiveUnreachableError(
                f"The Debian mirror {self.mirror} is unreachable and {entry.path} of {self.suite} is not cached.",
                "Run again when the mirror is reachable, or pass another one with --debian-mirror.")
        base = f"{self.mirror}/dists/{self.suite}"
        urls = [f"{base}/{entry.path}"]
        if self.release.acquire_by_hash:
            urls.insert(0, f"{base}/{posixpath.dirname(entry.path)}/by-hash/SHA256/{entry.sha256}")
        last_error: Exception | None = None
        for url in urls:
            try:
                return self._download_verified(url, blob, entry.sha256, entry.size, f"index {entry.path}")
            except FileNotFoundError as exc:
                last_error = exc
        raise DebianError(f"{self.mirror} lists {entry.path} for {self.suite} in its Release but does not serve it.",
                          "The mirror may be syncing; try again later or use another mirror.") from last_error

    def _download_verified(self, url: str, dest: Path, sha256: str, size: int | None, what: str) -> Path:
        tmp = dest.with_name(f"{dest.name}.part-{os.getpid()}")
        try:
            http_get(url, timeout=self.timeout, dest=tmp)
            actual_size = tmp.stat().st_size
            actual = sha256_file(tmp)
            if actual != sha256 or (size is not None and actual_size != size):
                raise ChecksumError(
                    f"{what} from {url} does not match its published checksum "
                    f"(SHA256 {actual}, {actual_size} bytes; expected {sha256}, {size} bytes).",
                    "The mirror may be corrupt or tampered with; try again or use another mirror.",
                )
            os.replace(tmp, dest)
            return dest
        finally:
            if tmp.exists():
                tmp.unlink()

    @property
    def packages(self) -> dict[str, PackageEntry]:
        """Package name -> entry of the component's Packages index."""
        if self._packages is None:
            stem = f"{self.component}/binary-{self.arch}/Packages"
            entry = self.index_entry(stem + ".xz", stem + ".gz", stem)
            if entry is None:
                raise DebianError(f"The Release of {self.suite} on {self.mirror} lists no {stem} index.",
                                  "The mirror may not carry this architecture or component.")
            parsed = self._parsed("packages", entry.sha256)
            if parsed.is_file():
                raw = json.loads(gzip.decompress(parsed.read_bytes()))
                self._packages = {name: PackageEntry(**item) for name, item in raw.items()}
            else:
                blob = self.fetch_index(entry)
                with _open_compressed(blob, entry.path, text=True) as stream:
                    self._packages = parse_packages(stream, self.mirror, self.suite)
                _atomic_write(parsed, gzip.compress(json.dumps(
                    {n: asdict(p) for n, p in self._packages.items()}).encode(), 3))
        return self._packages

    @property
    def contents(self) -> dict[str, list[list[str]]]:
        """File name -> [[path, package...], ...] for the suite's shared
        libraries (empty when the suite publishes no Contents, as the security
        suite does)."""
        if self._contents is None:
            stem = f"{self.component}/Contents-{self.arch}"
            entry = self.index_entry(stem + ".gz", stem + ".xz", stem)
            if entry is None or entry.size <= 64:
                self._contents = {}
                return self._contents
            parsed = self._parsed("contents", entry.sha256)
            if parsed.is_file():
                self._contents = json.loads(gzip.decompress(parsed.read_bytes()))
            else:
                blob = self.fetch_index(entry)
                with _open_compressed(blob, entry.path, text=False) as stream:
                    self._contents = parse_contents(stream)
                _atomic_write(parsed, gzip.compress(json.dumps(self._contents).encode(), 3))
        return self._contents

    def download(self, package: PackageEntry) -> Path:
        """The cached ``.deb`` of ``package``, checked against its SHA256/size."""
        blob = self._blob(package.sha256)
        if blob.is_file() and blob.stat().st_size == package.size:
            return blob
        try:
            return self._download_verified(package.url, blob, package.sha256, package.size,
                                           f"package {package.name} {package.version}")
        except FileNotFoundError as exc:
            raise DebianError(
                f"{package.url} is listed in the Packages index of {package.suite} but the mirror does not serve it.",
                "The mirror may be syncing; try again later or use another mirror.",
            ) from exc


def _age(path: Path) -> str:
    seconds = max(0, time.time() - path.stat().st_mtime)
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _open_compressed(path: Path, name: str, text: bool):
    if name.endswith(".xz"):
        return lzma.open(path, "rt" if text else "rb", encoding="utf-8" if text else None,
                         errors="replace" if text else None)
    if name.endswith(".gz"):
        return gzip.open(path, "rt" if text else "rb", encoding="utf-8" if text else None,
                         errors="replace" if text else None)
    return open(path, "rt" if text else "rb", encoding="utf-8" if text else None,
                errors="replace" if text else None)


# -- choosing the package for a soname --------------------------------------------


@dataclass(frozen=True)
class LibraryLocation:
    """Where a soname lives in the release: the package and the path (relative
    to /) of the file named by the soname inside it."""

    soname: str
    path: str
    package: PackageEntry


def soname_package_stem(soname: str) -> tuple[str, str]:
    """(expected package name, stem) by Debian's library naming policy:
    libzbar.so.0 -> ("libzbar0", "libzbar"); libgobject-2.0.so.0 ->
    ("libgobject-2.0-0", "libgobject")."""
    base, _, version = soname.partition(".so")
    version = version.lstrip(".")
    major = version.split(".", 1)[0] if version else ""
    name = base.lower()
    if major:
        name = f"{name}-{major}" if name[-1:].isdigit() else f"{name}{major}"
    stem = re.split(r"[-_.]?\d", base.lower(), maxsplit=1)[0]
    return name, stem


def rank_candidates(soname: str, rows: list[list[str]], debian_arch: str) -> list[tuple[str, str]]:
    """(path, package) pairs able to provide ``soname``, best first: a standard
    library directory before a subdirectory, a package named after the soname
    (libzbar0 for libzbar.so.0, also with a t64 suffix) before one whose name
    starts with its stem, before the rest; never -dbg/-dbgsym packages, -dev
    packages last."""
    std = set(std_library_dirs(debian_arch))
    expected, stem = soname_package_stem(soname)
    scored = []
    for row in rows:
        path, packages = row[0], row[1:]
        if posixpath.basename(path) != soname:
            continue
        dir_rank = 0 if posixpath.dirname(path) in std else 1
        for package in packages:
            if package.endswith(("-dbg", "-dbgsym")) or "-dbg-" in package:
                continue
            if package in (expected, expected + "t64") or package.replace("t64", "") == expected:
                name_rank = 0
            elif package.startswith(stem):
                name_rank = 1
            else:
                name_rank = 2
            dev = 1 if package.endswith("-dev") else 0
            scored.append(((dev, dir_rank, name_rank, len(package), package, path), (path, package)))
    scored.sort()
    seen = set()
    out = []
    for _, pair in scored:
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


@dataclass
class DebianRelease:
    """A Debian release as fcslim uses it: the main suite (Contents and
    Packages) plus, when the profile names one, its security suite, whose newer
    version of a package is preferred."""

    mirror: str
    release: str
    arch: str
    security_mirror: str | None = None
    keyring: Path | None = None
    cache_dir: Path | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.main = DebianArchive(self.mirror, self.release, self.arch, keyring=self.keyring,
                                  cache_dir=self.cache_dir, timeout=self.timeout)
        self.security = None
        if self.security_mirror:
            self.security = DebianArchive(self.security_mirror, f"{self.release}-security", self.arch,
                                          keyring=self.keyring, cache_dir=self.cache_dir, timeout=self.timeout)
        self._security_failed: str | None = None

    @classmethod
    def for_profile(cls, profile, mirror: str | None = None, **kwargs) -> "DebianRelease":
        return cls(mirror=(mirror or profile.debian.mirror), release=profile.debian.release,
                   arch=profile.debian_arch, security_mirror=profile.debian.security_mirror, **kwargs)

    @property
    def warnings(self) -> list[str]:
        out = list(self.main.warnings)
        if self.security is not None:
            out += [w for w in self.security.warnings if w not in out]
        if self._security_failed:
            out.append(self._security_failed)
        return out

    def authentication(self) -> dict[str, str]:
        result = {self.main.suite: self.main.release.authentication}
        if self.security is not None and self._security_packages() is not None:
            result[self.security.suite] = self.security.release.authentication
        return result

    def _security_packages(self) -> dict[str, PackageEntry] | None:
        if self.security is None or self._security_failed:
            return None
        try:
            return self.security.packages
        except (NetworkError, FileNotFoundError) as exc:
            self._security_failed = (
                f"The security suite {self.security.suite} on {self.security.mirror} could not be read "
                f"({exc}); packages come from {self.release} without its security updates.")
            return None

    def newest(self, name: str) -> PackageEntry | None:
        """The newest version of package ``name`` across main and security."""
        best = self.main.packages.get(name)
        security = self._security_packages()
        if security is not None:
            candidate = security.get(name)
            if candidate is not None and (best is None or compare_versions(candidate.version, best.version) > 0):
                best = candidate
        return best

    def locate(self, soname: str) -> LibraryLocation:
        """The package and path that provide ``soname``; NoPackageError when
        no package of the release has a library file of that name."""
        rows = self.main.contents.get(soname, [])
        for path, package_name in rank_candidates(soname, rows, self.arch):
            entry = self.newest(package_name)
            if entry is not None:
                return LibraryLocation(soname, path, entry)
        raise NoPackageError(
            f"No package of Debian {self.release} ({self.arch}) contains a library named {soname}.",
            "Check the name (a library from another distribution or a newer Debian release?); provide it "
            "yourself in the bundle's lib/ directory, or choose a runtime whose Debian release has it.",
        )

    def download(self, package: PackageEntry) -> Path:
        archive = self.security if (self.security and package.suite == self.security.suite) else self.main
        return archive.download(package)


# -- .deb reading -------------------------------------------------------------------


@dataclass(frozen=True)
class ArMember:
    name: str
    offset: int
    size: int


def read_ar_members(handle: BinaryIO, what: str) -> list[ArMember]:
    """The members of an ``ar`` archive (the .deb container), checked: the
    global header, each 60-byte header's size and terminator, names without
    slashes, members inside the file."""
    handle.seek(0, os.SEEK_END)
    total = handle.tell()
    handle.seek(0)
    if handle.read(8) != b"!<arch>\n":
        raise DebianError(f"{what} is not a Debian package (no ar header).",
                          "The download may be corrupt; delete the cached copy and try again.")
    members: list[ArMember] = []
    offset = 8
    while offset < total:
        handle.seek(offset)
        header = handle.read(60)
        if len(header) < 60 or header[58:60] != b"`\n":
            raise UnsafeArchiveError(f"{what} has a malformed ar member header at byte {offset}.",
                                     "The package is corrupt or hostile; it was not used.")
        name = header[:16].decode("ascii", errors="replace").strip()
        if name.endswith("/"):
            name = name[:-1]
        size_text = header[48:58].decode("ascii", errors="replace").strip()
        if not size_text.isdigit():
            raise UnsafeArchiveError(f"{what} has an ar member with an invalid size {size_text!r}.",
                                     "The package is corrupt or hostile; it was not used.")
        size = int(size_text)
        start = offset + 60
        if start + size > total:
            raise UnsafeArchiveError(f"{what}: ar member {name!r} runs past the end of the file.",
                                     "The package is truncated or hostile; it was not used.")
        if not name or "/" in name or name in (".", ".."):
            raise UnsafeArchiveError(f"{what} has an ar member with an unsafe name {name!r}.",
                                     "The package is hostile; it was not used.")
        members.append(ArMember(name, start, size))
        offset = start + size + (size & 1)
    return members


@dataclass(frozen=True)
class TarEntry:
    """A checked member of a package's data tarball."""

    name: str  # normalised, relative to the package root, no leading ./
    kind: str  # "file", "dir", "symlink", "hardlink"
    size: int
    target: str | None = None  # symlink: as written; hardlink: normalised member name
    info: tarfile.TarInfo | None = field(default=None, compare=False, repr=False)


def _normalise_member(name: str, what: str) -> str:
    if "\x00" in name:
        raise UnsafeArchiveError(f"{what} has a member name with a NUL byte.", "The package was not used.")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"{what} has a member with an absolute path: {name!r}.",
                                 "A Debian package never has one; the package was refused.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{what} has a member whose path climbs out of the tree: {name!r}.",
                                 "The package is hostile; it was refused.")
    return "/".join(parts)


def _check_symlink(member: str, target: str, what: str) -> None:
    if "\x00" in target:
        raise UnsafeArchiveError(f"{what}: symbolic link {member!r} has a NUL byte in its target.",
                                 "The package was refused.")
    if target.startswith("/"):
        return  # resolved against the package root, never the host's /
    depth = len(member.split("/")) - 1
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise UnsafeArchiveError(
                    f"{what}: symbolic link {member!r} -> {target!r} points outside the package tree.",
                    "The package is hostile; it was refused.")
        elif part not in ("", "."):
            depth += 1


def _decompressor(name: str, what: str):
    if name.endswith(".xz") or name.endswith(".lzma"):
        return lambda f: lzma.open(f)
    if name.endswith(".gz"):
        return lambda f: gzip.open(f)
    if name.endswith(".bz2"):
        return lambda f: bz2.open(f)
    if name.endswith(".zst"):
        return None  # handled by the zstd command
    if name.endswith(".tar"):
        return lambda f: f
    raise DebianError(f"{what} has a data member {name!r} in a compression fcslim does not know.",
                      "Report the package; fcslim reads .xz, .gz, .bz2 and .zst (with the zstd command).")


class DebArchive:
    """A ``.deb`` opened for reading: its control fields and its checked data
    members.  Use as a context manager; nothing is written outside the
    temporary file that holds the decompressed data tarball."""

    def __init__(self, path: Path, what: str | None = None):
        self.path = Path(path)
        self.what = what or self.path.name
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._tar: tarfile.TarFile | None = None
        self.entries: dict[str, TarEntry] = {}
        self.control: dict[str, str] = {}

    def __enter__(self) -> "DebArchive":
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _open(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="fcslim-deb-")
        with open(self.path, "rb") as handle:
            members = read_ar_members(handle, self.what)
            names = [m.name for m in members]
            if not names or names[0] != "debian-binary":
                raise DebianError(f"{self.what} is not a Debian binary package (first member {names[:1]}).",
                                  "The download may be corrupt; delete the cached copy and try again.")
            data = [m for m in members if m.name.startswith("data.tar")]
            control = [m for m in members if m.name.startswith("control.tar")]
            if len(data) != 1:
                raise DebianError(f"{self.what} has {len(data)} data.tar members; a package has exactly one.",
                                  "The package is corrupt or hostile; it was not used.")
            if control:
                self.control = self._read_control(handle, control[0])
            data_path = Path(self._tmp.name) / "data.tar"
            self._decompress(handle, data[0], data_path)
        self._tar = tarfile.open(data_path, "r:")
        self.entries = self._check_members(self._tar)

    def _member_bytes(self, handle: BinaryIO, member: ArMember) -> bytes:
        handle.seek(member.offset)
        return handle.read(member.size)

    def _decompress(self, handle: BinaryIO, member: ArMember, dest: Path) -> None:
        raw = Path(self._tmp.name) / (member.name + ".raw")
        raw.write_bytes(self._member_bytes(handle, member))
        opener = _decompressor(member.name, self.what)
        if opener is None:
            zstd = shutil.which("zstd")
            if not zstd:
                raise DebianError(f"{self.what} is compressed with zstd and the zstd command is not installed.",
                                  "Install zstd (apt-get install zstd) and run again.")
            proc = subprocess.run([zstd, "-q", "-d", "-c", str(raw)], stdout=open(dest, "wb"),
                                  stderr=subprocess.PIPE)
            if proc.returncode != 0:
                raise DebianError(f"zstd could not decompress {member.name} of {self.what}.",
                                  "The package is corrupt; delete the cached copy and try again.")
        else:
            try:
                with opener(open(raw, "rb")) as source, open(dest, "wb") as out:
                    copied = 0
                    for block in iter(lambda: source.read(1 << 20), b""):
                        copied += len(block)
                        if copied > MAX_DATA_TAR_BYTES:
                            raise UnsafeArchiveError(
                                f"{self.what} decompresses to more than {MAX_DATA_TAR_BYTES >> 30} GiB.",
                                "The package was refused.")
                        out.write(block)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise DebianError(f"{member.name} of {self.what} cannot be decompressed ({exc}).",
                                  "The package is corrupt; delete the cached copy and try again.") from exc
        raw.unlink()

    def _read_control(self, handle: BinaryIO, member: ArMember) -> dict[str, str]:
        opener = _decompressor(member.name, self.what)
        raw = self._member_bytes(handle, member)
        if opener is None:
            zstd = shutil.which("zstd")
            if not zstd:
                return {}
            raw = subprocess.run([zstd, "-q", "-d", "-c"], input=raw, capture_output=True).stdout
            stream = io.BytesIO(raw)
        else:
            stream = opener(io.BytesIO(raw))
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for info in tar:
                    if info.isfile() and posixpath.normpath(info.name) in ("control", "./control"):
                        extracted = tar.extractfile(info)
                        text = extracted.read(1 << 20).decode("utf-8", errors="replace") if extracted else ""
                        stanzas = list(parse_deb822(text))
                        return stanzas[0] if stanzas else {}
        except (tarfile.TarError, OSError, EOFError, lzma.LZMAError):
            return {}
        return {}

    def _check_members(self, tar: tarfile.TarFile) -> dict[str, TarEntry]:
        entries: dict[str, TarEntry] = {}
        try:
            members = tar.getmembers()
        except tarfile.TarError as exc:
            raise DebianError(f"The data tarball of {self.what} is malformed ({exc}).",
                              "The package is corrupt; delete the cached copy and try again.") from exc
        for info in members:
            name = _normalise_member(info.name, self.what)
            if info.isdev() or info.isfifo() or not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
                kind = ("character device" if info.ischr() else "block device" if info.isblk()
                        else "FIFO" if info.isfifo() else f"special file (type {info.type!r})")
                raise UnsafeArchiveError(f"{self.what} has a {kind} member {info.name!r}.",
                                         "A library package never has one; the package was refused.")
            if not name:
                if info.isdir():
                    continue
                raise UnsafeArchiveError(f"{self.what} has a non-directory member naming the tree root.",
                                         "The package was refused.")
            if info.issym():
                _check_symlink(name, info.linkname, self.what)
                entries[name] = TarEntry(name, "symlink", 0, info.linkname, info)
            elif info.islnk():
                target = _normalise_member(info.linkname, self.what)
                if target not in entries or entries[target].kind != "file":
                    raise UnsafeArchiveError(
                        f"{self.what}: hard link {info.name!r} points to {info.linkname!r}, which is not a "
                        "regular file earlier in the package.", "The package is hostile; it was refused.")
                entries[name] = TarEntry(name, "hardlink", entries[target].size, target, info)
            elif info.isdir():
                entries[name] = TarEntry(name, "dir", 0, None, info)
            else:
                entries[name] = TarEntry(name, "file", info.size, None, info)
        return entries

    # -- lookups
    def resolve(self, name: str, max_links: int = 40) -> TarEntry | None:
        """The regular-file entry ``name`` leads to, following symbolic links
        (in every path component) and hard links inside the package; None when
        the chain ends outside the package's members."""
        pending = _normalise_member(name.lstrip("/"), self.what).split("/")
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue  # at the root: stays at the root, like the kernel
            current = "/".join(done + [part])
            entry = self.entries.get(current)
            if entry is None:
                return None
            if entry.kind == "symlink":
                hops += 1
                if hops > max_links:
                    return None
                target = entry.target or ""
                if target.startswith("/"):
                    done = []
                pending = [p for p in target.split("/") if p] + pending
                continue
            if entry.kind == "hardlink":
                entry = self.entries[entry.target]
                current = entry.name
            if pending and entry.kind != "dir":
                return None
            done = current.split("/")
            if not pending:
                return entry if entry.kind == "file" else None
        return None

    def read(self, name: str) -> bytes:
        """The bytes of a regular file member (after links); KeyError when the
        package has no such file."""
        entry = self.resolve(name)
        if entry is None or self._tar is None:
            raise KeyError(name)
        handle = self._tar.extractfile(entry.info)
        if handle is None:
            raise KeyError(name)
        return handle.read()

    def glob(self, pattern: str) -> list[str]:
        return sorted(n for n in self.entries if fnmatch.fnmatchcase(n, pattern))

    def copyright(self) -> str | None:
        package = self.control.get("Package", "")
        for name in ([f"usr/share/doc/{package}/copyright"] if package else []) + self.glob("usr/share/doc/*/copyright"):
            try:
                return self.read(name).decode("utf-8", errors="replace")
            except KeyError:
                continue
        return None
