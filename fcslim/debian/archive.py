"""The Debian archive as fcslim uses it: one suite of one mirror
(:class:`DebianArchive`: its authenticated Release, its Packages and Contents
indexes, verified downloads) and a release with its security suite
(:class:`DebianRelease`: which package provides a soname, newest version
first).

Trust chain, as apt has it, without touching the host's apt state:

1. ``dists/<suite>/InRelease`` (or ``Release`` + ``Release.gpg``) is fetched
   on every use and checked with gpgv against the trusted keyring
   (:mod:`fcslim.debian.signatures`); unsigned or untrusted is refused unless
   ``Trust.allow_unsigned``, a bad signature always.
2. Every index (``main/binary-<arch>/Packages.xz``, ``main/Contents-<arch>.gz``)
   must match the SHA256 the Release lists.
3. Every ``.deb`` must match the SHA256 of its Packages stanza.

Contents only says which package to look in.  When the mirror serves a
Contents index that does not match its Release (deb.debian.org did for trixie
on 2026-11-25: a CDN mid-sync), the build goes on with a warning: a soname is
looked for in the packages Debian's naming policy names, each opened from its
verified ``.deb``.

Everything downloaded is kept in the cache store by that SHA256 and hashed
again whenever it is read (:mod:`fcslim.debian.store`).
"""

from __future__ import annotations

import posixpath
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..core import http
from ..core.errors import DebianError, NetworkError
from ..target.profile import Profile
from .debfile import DebArchive
from .errors import ArchitectureError, ArchiveUnreachableError, ChecksumError, IndexNotServedError, NoPackageError
from .indexes import PackageEntry, PackageIndex, lines_containing, open_index, parse_contents, parse_packages
from .release import IndexEntry, ReleaseFile, fetch_release
from .signatures import Trust
from .sonames import rank_candidates, soname_package_stem
from .store import DebianStore
from .versions import compare_versions

NAMING_CANDIDATES = 6  # packages whose names extend the expected one, tried without Contents
_MIRROR_HINT = ("Pass --debian-mirror (or set the profile's debian.mirror) as an http:// or https:// URL "
                "such as http://deb.debian.org/debian, or file:///path/to/mirror.")


def check_mirror_url(url: str) -> str:
    """``url`` without a trailing slash, when it can be a Debian mirror;
    otherwise an InputError (exit 3) naming it."""
    return http.check_url(str(url), "Debian mirror", _MIRROR_HINT).rstrip("/")


@dataclass
class DebianArchive:
    """One suite (``bullseye``, ``bullseye-security``) of one mirror, for one
    architecture and component, cached in the store under ``cache_root``
    (default: the fcslim cache)."""

    mirror: str
    suite: str
    arch: str
    component: str = "main"
    trust: Trust = field(default_factory=Trust)
    cache_root: Path | None = None
    timeout: float = 30.0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mirror = check_mirror_url(self.mirror)
        self.store = DebianStore(self.cache_root)
        self._release: ReleaseFile | None = None
        self._packages: PackageIndex | None = None
        self._contents: dict[str, list[list[str]]] | None = None
        self.contents_problem: str | None = None  # why the Contents index could not be used

    def _warn(self, text: str) -> None:
        # data, not warnings.warn: the stages return their warnings and only the CLI prints
        if text not in self.warnings:
            self.warnings.append(text)

    # -- Release
    @property
    def release(self) -> ReleaseFile:
        if self._release is None:
            release = fetch_release(self.mirror, self.suite, self.trust.for_suite(self.suite), self.store,
                                    timeout=self.timeout, warn=self._warn)
            self._check_architecture(release)
            if not release.authenticated:
                self._warn(f"Debian {self.suite} on {self.mirror} is NOT authenticated "
                           f"({release.authentication.split(': ', 1)[-1]}); its indexes and packages are checked "
                           "only against that unauthenticated Release.")
            self._release = release
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
        cached = self.store.blob(entry.sha256)
        if cached is not None:
            return cached
        if self.release.from_cache:
            raise ArchiveUnreachableError(
                f"The Debian mirror {self.mirror} is unreachable and {entry.path} of {self.suite} is not cached.",
                "Run again when the mirror is reachable, or pass another one with --debian-mirror.")
        base = f"{self.mirror}/dists/{self.suite}"
        urls = [f"{base}/{entry.path}"]
        if self.release.acquire_by_hash:
            urls.insert(0, f"{base}/{posixpath.dirname(entry.path)}/by-hash/SHA256/{entry.sha256}")
        try:
            return self.store.fetch_blob(urls, entry.sha256, f"Index {entry.path}", self.timeout)
        except http.NotFoundError as exc:
            raise IndexNotServedError(f"{self.mirror} lists {entry.path} for {self.suite} in its Release but does "
                                      "not serve it.",
                                      "The mirror may be syncing; try again later or use another mirror.") from exc

    @property
    def packages(self) -> PackageIndex:
        """Package name -> entry of the component's Packages index."""
        if self._packages is None:
            stem = f"{self.component}/binary-{self.arch}/Packages"
            entry = self.index_entry(stem + ".xz", stem + ".gz", stem)
            if entry is None:
                raise DebianError(f"The Release of {self.suite} on {self.mirror} lists no {stem} index.",
                                  "The mirror may not carry this architecture or component.")
            self._packages = self._load_packages(entry)
        return self._packages

    def _load_packages(self, entry: IndexEntry) -> PackageIndex:
        cached = PackageIndex.from_rows(self.store.load_parsed("packages", entry.sha256), self.mirror, self.suite)
        if cached is not None:
            return cached
        with open_index(self.fetch_index(entry), entry.path, text=True) as stream:
            packages = parse_packages(stream, self.mirror, self.suite)
        self.store.save_parsed("packages", entry.sha256, packages.rows())
        return packages

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
            cached = self.store.load_parsed("contents", entry.sha256)
            if isinstance(cached, dict):
                self._contents = cached
                return self._contents
            try:
                index = self.fetch_index(entry)
            except (ChecksumError, IndexNotServedError) as exc:
                # Contents only says where to look: every .deb is still checked
                # against the signed Packages index, so a lookup by Debian's
                # naming policy (DebianRelease.locate) loses no authenticity.
                self.contents_problem = str(exc)
                self._warn(f"{exc} Libraries of {self.suite} are looked up by Debian's package naming "
                           "instead, each confirmed inside its verified package.")
                self._contents = {}
                return self._contents
            self._contents = parse_contents(lines_containing(index, entry.path, b".so"))
            self.store.save_parsed("contents", entry.sha256, self._contents)
        return self._contents

    @contextmanager
    def held(self, package: PackageEntry) -> Iterator[Path]:
        """:meth:`download`, with the cache entry held (a shared lock) for the
        block, so a concurrent ``fcslim cache clean`` cannot remove it while
        the caller reads it."""
        with self.store.blobs.lock(package.sha256, shared=True):
            yield self.download(package)

    def download(self, package: PackageEntry) -> Path:
        """The cached ``.deb`` of ``package``, checked against the SHA256 of
        its signed Packages stanza (on every call, cached or not)."""
        try:
            return self.store.fetch_blob([package.url], package.sha256,
                                         f"Package {package.name} {package.version}", self.timeout)
        except http.NotFoundError as exc:
            raise DebianError(
                f"{package.url} is listed in the Packages index of {package.suite} but the mirror does not serve it.",
                "The mirror may be syncing; try again later or use another mirror.",
            ) from exc


@dataclass(frozen=True)
class LibraryLocation:
    """Where a soname lives in the release: the package and the path (relative
    to /) of the file named by the soname inside it."""

    soname: str
    path: str
    package: PackageEntry


@dataclass
class DebianRelease:
    """A Debian release as fcslim uses it: the main suite (Contents and
    Packages) plus, when the profile names one, its security suite, whose newer
    version of a package is preferred."""

    mirror: str
    release: str
    arch: str
    security_mirror: str | None = None
    trust: Trust = field(default_factory=Trust)
    cache_root: Path | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.main = DebianArchive(self.mirror, self.release, self.arch, trust=self.trust,
                                  cache_root=self.cache_root, timeout=self.timeout)
        self.mirror = self.main.mirror
        self.security: DebianArchive | None = None
        if self.security_mirror:
            self.security = DebianArchive(self.security_mirror, f"{self.release}-security", self.arch,
                                          trust=self.trust, cache_root=self.cache_root, timeout=self.timeout)
        self._security_failed: str | None = None

    @classmethod
    def for_profile(cls, profile: Profile, mirror: str | None = None, *, trust: Trust | None = None,
                    cache_root: Path | None = None, timeout: float = 30.0) -> "DebianRelease":
        return cls(mirror=(mirror or profile.debian.mirror), release=profile.debian.release,
                   arch=profile.debian_arch, security_mirror=profile.debian.security_mirror,
                   trust=trust or Trust(), cache_root=cache_root, timeout=timeout)

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

    def _security_packages(self) -> PackageIndex | None:
        if self.security is None or self._security_failed:
            return None
        try:
            return self.security.packages
        except NetworkError as exc:
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
        if self.main.contents_problem:
            found = self._locate_by_naming(soname)
            if found is not None:
                return found
        raise NoPackageError(
            f"No package of Debian {self.release} ({self.arch}) contains a library named {soname}.",
            "Check the name (a library from another distribution or a newer Debian release?); provide it "
            "yourself in the bundle's lib/ directory, or choose a runtime whose Debian release has it.",
        )

    def _locate_by_naming(self, soname: str) -> LibraryLocation | None:
        """``soname`` found without Contents: the packages Debian's naming
        policy points at (libgvc.so.6 -> libgvc6, also libgvc6t64 and names
        that extend it, as libjpeg62-turbo does), opened and searched."""
        expected, _stem = soname_package_stem(soname)
        names = [expected, expected + "t64"] + sorted(
            n for n in self.main.packages
            if n.startswith(expected) and n not in (expected, expected + "t64")
            and not n.endswith(("-dev", "-dbg", "-dbgsym", "-doc")))[:NAMING_CANDIDATES]
        for name in names:
            entry = self.newest(name)
            if entry is None:
                continue
            with self.held(entry) as path, DebArchive(path) as deb:
                rows = [[member, name] for member in deb.entries
                        if posixpath.basename(member) == soname and deb.resolve(member) is not None]
            for member, _package in rank_candidates(soname, rows, self.arch):
                return LibraryLocation(soname, member, entry)
        return None

    def _archive_of(self, package: PackageEntry) -> DebianArchive:
        return self.security if (self.security and package.suite == self.security.suite) else self.main

    def download(self, package: PackageEntry) -> Path:
        return self._archive_of(package).download(package)

    def held(self, package: PackageEntry) -> AbstractContextManager[Path]:
        """The verified ``.deb``, kept from a concurrent cache clean for a ``with`` block."""
        return self._archive_of(package).held(package)
