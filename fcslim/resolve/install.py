"""Resolution and installation for a target runtime, not for the host.

The engine is uv (``uv pip install --target`` and ``uv pip compile``), driven
with the target's Python version and manylinux platform: uv evaluates
environment markers, ``Requires-Python`` and wheel tags for the target whatever
the host is, and does so faster than pip.  fcslim does not trust that blindly:

* the requirement file is parsed here first, so bad lines fail as ``file:line``;
* uv's failures are read and re-raised as fcslim errors, one paragraph each;
  a missing wheel is diagnosed from the index itself (versions seen, tags
  tried, the nearest wheels that exist and what to do);
* after installing, every ``*.dist-info`` is checked with :mod:`packaging`: its
  wheel tags must intersect ``profile.tags`` and its ``Requires-Python`` must
  admit ``profile.python_full_version``.

Wheels only by default.  With ``allow_pure_sdist`` a distribution that has only
an sdist is built, after its sdist was checked for native sources, and the
built wheel must be pure (``py*-none-any``).
"""

from __future__ import annotations

import email.parser
import functools
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import unquote, urljoin, urlparse

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from fcslim.dists import inside_tree, read_metadata, read_record
from fcslim.cache import location as cachedir
from fcslim.core.errors import (
    ConflictError,
    FcslimError,
    HashMismatchError,
    InputError,
    NativeSdistError,
    NetworkError,
    NoCompatibleWheelError,
    ResolutionError,
    UnknownPackageError,
)
from fcslim.resolve.requirements import RequirementsFile, parse_requirements
from fcslim.target.profile import Profile

DEFAULT_INDEX_URL = "https://pypi.org/simple"


class IncompleteLockError(ResolutionError):
    """A lock without a pin (and hash) for a distribution the target needs."""


class TargetMismatchError(ResolutionError):
    """An installed distribution the target would not accept (a wheel tag or
    Requires-Python outside the profile)."""


class EngineError(FcslimError):
    """uv is missing or failed in a way fcslim does not recognise (exit 1)."""


# -- options and results -------------------------------------------------------


@dataclass(frozen=True)
class InstallOptions:
    """Where packages come from and how strictly they are taken.

    Index options here are added to those written in the requirement file;
    ``index_url`` here wins over the file's.  ``require_hashes`` None means
    "when the requirement file carries hashes" (a lock).  ``link_mode`` is
    uv's: "copy" (default) gives the bundle its own files, which later stages
    may rewrite in place (strip, RUNPATH patches); "hardlink" is faster but
    shares inodes with uv's cache, so only use it for trees nothing edits.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    allow_pure_sdist: bool = False
    require_hashes: bool | None = None
    pre: bool = False
    cache_dir: Path | None = None
    link_mode: str = "hardlink"
    uv: str | None = None
    timeout: float = 15.0


@dataclass(frozen=True)
class InstalledDistribution:
    """One distribution as installed into the tree."""

    name: str
    version: str
    wheel: str
    tags: tuple[str, ...]
    requires_python: str | None
    files: tuple[str, ...]
    size: int
    dist_info: str
    pure: bool

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "wheel": self.wheel,
            "tags": list(self.tags),
            "requires_python": self.requires_python,
            "files": list(self.files),
            "size": self.size,
        }


@dataclass
class InstallResult:
    """What :func:`install` put into ``dest`` and how."""

    dest: Path
    profile: Profile
    distributions: list[InstalledDistribution]
    requirements_path: Path
    requirements_sha256: str
    requirements: list[str]
    hash_checked: bool
    lock_sha256: str | None
    built_from_sdist: list[str] = field(default_factory=list)
    engine: dict = field(default_factory=dict)
    seconds: float = 0.0

    def requirements_record(self) -> dict:
        return {
            "file": str(self.requirements_path),
            "sha256": self.requirements_sha256,
            "requirements": list(self.requirements),
            "hash_checked": self.hash_checked,
            "built_from_sdist": list(self.built_from_sdist),
            "engine": dict(self.engine),
        }


# -- uv ------------------------------------------------------------------------


def uv_binary(explicit: str | None = None) -> str:
    """The uv executable: ``explicit``, the one the ``uv`` package ships, or PATH."""
    if explicit:
        return explicit
    try:
        import uv  # type: ignore[import-not-found]

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EngineError(
        "uv, fcslim's resolver, is not installed.",
        "Install it with `pip install uv` (it is a dependency of fcslim) and run again.",
    )


@functools.lru_cache(maxsize=4)
def uv_version(uv: str) -> str:
    out = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().split(" ")[1] if out.returncode == 0 and " " in out.stdout else "unknown"


@functools.lru_cache(maxsize=4)
def uv_manylinux_minors(uv: str) -> tuple[int, ...]:
    """glibc minors uv's ``--python-platform`` names (``x86_64-manylinux_2_NN``)."""
    out = subprocess.run([uv, "pip", "compile", "--help"], capture_output=True, text=True, check=False)
    minors = {int(m) for m in re.findall(r"x86_64-manylinux_2_(\d+)", out.stdout)}
    return tuple(sorted(minors)) or (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)


def uv_python_platform(profile: Profile, uv: str | None = None) -> str:
    """uv's ``--python-platform`` for ``profile``: the newest manylinux it knows
    that is not newer than the profile's glibc (2.24 → 2_17, 2.41 → 2_40)."""
    minors = uv_manylinux_minors(uv_binary(uv))
    major, minor = profile.glibc
    usable = [m for m in minors if m <= minor]
    if major != 2 or not usable:
        raise InputError(
            f"Runtime {profile.name} has glibc {profile.glibc_version}, older than any manylinux "
            f"platform uv {uv_version(uv_binary(uv))} can target (manylinux_2_{minors[0]}).",
            "Use a profile with glibc 2.17 or newer.",
        )
    return f"{profile.arch}-manylinux_2_{max(usable)}"


@dataclass(frozen=True)
class _Sources:
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    no_index: bool

    def args(self) -> list[str]:
        out: list[str] = []
        if self.no_index:
            out.append("--no-index")
        elif self.index_url:
            out += ["--index-url", self.index_url]
        if not self.no_index:
            for url in self.extra_index_urls:
                out += ["--extra-index-url", url]
        for link in self.find_links:
            out += ["--find-links", link]
        return out

    def indexes(self) -> list[str]:
        if self.no_index:
            return []
        return [self.index_url or DEFAULT_INDEX_URL, *self.extra_index_urls]

    def describe(self) -> str:
        places = self.indexes() + list(self.find_links)
        return ", ".join(places) if places else "no index"


def _sources(reqs: RequirementsFile, options: InstallOptions) -> _Sources:
    find_links = []
    for link in list(options.find_links) + reqs.find_links:
        if not re.match(r"^[a-z][a-z0-9+.-]*://", link):
            path = Path(link).expanduser().resolve()
            if not path.exists():
                raise InputError(f"Find-links location {link} does not exist.",
                                 "Pass an existing directory of wheels (or a URL) to --find-links.")
            link = str(path)
        find_links.append(link)
    return _Sources(
        index_url=options.index_url or reqs.index_url,
        extra_index_urls=tuple(dict.fromkeys(list(options.extra_index_urls) + reqs.extra_index_urls)),
        find_links=tuple(dict.fromkeys(find_links)),
        no_index=options.no_index or reqs.no_index,
    )


def _uv_env(options: InstallOptions) -> dict[str, str]:
    env = dict(os.environ)
    if options.cache_dir:
        env["UV_CACHE_DIR"] = str(options.cache_dir)
    elif not env.get("UV_CACHE_DIR"):
        env["UV_CACHE_DIR"] = str(cachedir.cache_subdir("uv"))
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    env["NO_COLOR"] = "1"
    env.setdefault("UV_HTTP_TIMEOUT", str(int(max(options.timeout, 1) * 2)))
    return env


def _target_args(profile: Profile, uv: str) -> list[str]:
    return [
        "--python-version", profile.python_full_version,
        "--python-platform", uv_python_platform(profile, uv),
        "--no-python-downloads",
        "--no-config",
    ]


def _build_args(no_binary: Iterable[str]) -> list[str]:
    args = ["--only-binary", ":all:"]
    for name in sorted(set(no_binary)):
        args += ["--no-binary", name]
    return args


@dataclass
class _UvRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def _run_uv(argv: list[str], env: dict[str, str]) -> _UvRun:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise EngineError(f"Could not run uv ({argv[0]}): {exc.strerror}.",
                          "Reinstall uv (`pip install uv`) and run again.") from exc
    return _UvRun(argv, proc.returncode, proc.stdout, proc.stderr)


# -- reading uv's failures -----------------------------------------------------

_NAME = r"`?([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:(?:==|>=|<=|!=|~=|>|<)[^\s`]*)?`?"
_NO_WHEEL_PATTERNS = [
    re.compile(_NAME + r" has no (?:usable )?wheels"),
    re.compile(_NAME + r" has no compatible wheels"),
    re.compile(r"all versions of " + _NAME + r" have no (?:usable |compatible )?wheels"),
    re.compile(_NAME + r" (?:requires|depends on) Python"),
    re.compile(r"Wheels are required for `([^`]+)`"),
]
_SDIST_ONLY = re.compile(r"Wheels are required for `([^`]+)` because building from source is disabled")
_UNKNOWN = re.compile(_NAME + r" was not found in the (?:package registry|provided package locations)")
_HASH_MISMATCH = re.compile(r"Hash mismatch for `([^`]+)`")
_MISSING_HASH = re.compile(r"no trusted hash was provided for: (.+)")
_NETWORK_HINTS = ("error sending request", "dns error", "tcp connect error", "Connection refused",
                  "operation timed out", "timed out", "Could not connect", "Network is unreachable",
                  "certificate", "Connection reset")
_URL = re.compile(r"(https?://[^\s`'\")]+|file://[^\s`'\")]+)")


def _clean_uv_text(stderr: str) -> str:
    """uv's error and its causes as one line (no warnings, no progress)."""
    keep = []
    for line in stderr.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("warning:", "Using ", "Resolved ", "Prepared ",
                                                "Installed ", "Building ", "Built ")):
            continue
        stripped = re.sub(r"^(error|cause|hint):\s*", "", stripped)
        keep.append(stripped)
    return " ".join(" ".join(keep).split())


def _names(patterns: Sequence[re.Pattern], text: str) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        for match in pattern.finditer(text):
            name = canonicalize_name(match.group(1))
            if name not in found:
                found.append(name)
    return found


# -- the index, for diagnoses --------------------------------------------------


@dataclass(frozen=True)
class IndexFile:
    """A distribution file an index or find-links location offers."""

    filename: str
    url: str
    requires_python: str | None = None
    yanked: bool = False

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


class _AnchorParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            attributes = dict(attrs)
            if attributes.get("href"):
                self.links.append((attributes["href"] or "", attributes))


def _files_from_html(page: str, base: str) -> list[IndexFile]:
    parser = _AnchorParser()
    parser.feed(page)
    files = []
    for href, attributes in parser.links:
        url = urljoin(base, href)
        filename = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        if filename.endswith((".whl", ".tar.gz", ".zip")):
            files.append(IndexFile(filename, url, attributes.get("data-requires-python") or None,
                                   "data-yanked" in attributes))
    return files


def _fetch(url: str, timeout: float, accept: str | None = None) -> tuple[bytes, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (index URLs)
        return response.read(), response.headers.get("Content-Type", ""), response.geturl()


def index_files(name: str, sources: _Sources, timeout: float = 15.0) -> tuple[list[IndexFile], list[str]]:
    """Every file offered for ``name`` by the find-links locations and indexes,
    and the places that could not be read."""
    wanted = canonicalize_name(name)
    files: list[IndexFile] = []
    unreadable: list[str] = []
    for link in sources.find_links:
        try:
            files += [f for f in _find_links_files(link, timeout) if _file_project(f.filename) == wanted]
        except (OSError, urllib.error.URLError, ValueError):
            unreadable.append(link)
    for index in sources.indexes():
        try:
            files += _index_project_files(index, wanted, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                unreadable.append(index)
        except (OSError, urllib.error.URLError, ValueError):
            unreadable.append(index)
    return files, unreadable


def _find_links_files(link: str, timeout: float) -> list[IndexFile]:
    if re.match(r"^https?://", link):
        body, _type, final = _fetch(link, timeout)
        return _files_from_html(body.decode("utf-8", "replace"), final)
    path = Path(unquote(urlparse(link).path) if link.startswith("file:") else link)
    if path.is_dir():
        return [IndexFile(p.name, p.as_uri(), _local_requires_python(p)) for p in sorted(path.iterdir())
                if p.is_file()]
    if path.is_file() and path.suffix in (".html", ".htm"):
        return _files_from_html(path.read_text(errors="replace"), path.as_uri())
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
            return _files_from_html(page.read_text(errors="replace"), page.as_uri())
        if root.is_dir():
            return [IndexFile(p.name, p.as_uri()) for p in sorted(root.iterdir()) if p.is_file()]
        return []
    url = index.rstrip("/") + f"/{name}/"
    body, content_type, final = _fetch(
        url, timeout, accept="application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    )
    if "json" in content_type:
        data = json.loads(body)
        return [
            IndexFile(f["filename"], urljoin(final, f["url"]), f.get("requires-python") or None,
                      bool(f.get("yanked")))
            for f in data.get("files", [])
        ]
    return _files_from_html(body.decode("utf-8", "replace"), final)


def _file_project(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        return canonicalize_name(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


# -- the "no wheel" diagnosis --------------------------------------------------


def tags_tried_summary(profile: Profile) -> str:
    """``cp310/abi3/py3 on manylinux_2_28..2_5 x86_64`` for a profile."""
    interpreters = [profile.abi, "abi3", f"py{profile.python[0]}"]
    return (f"{'/'.join(interpreters)} on manylinux_{profile.glibc[0]}_{profile.glibc[1]}..2_5 "
            f"{profile.arch} (and pure py*-none-any)")


def _python_admits(requires_python: str | None, profile: Profile) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(profile.python_full_version, prereleases=True)
    except InvalidSpecifier:
        return True


def _wheel_fits(tags: Iterable[Tag], profile: Profile) -> bool:
    return any(t in profile.tag_set for t in tags)


def _glibc_of(platform: str) -> tuple[str, tuple[int, int]] | None:
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    match = re.match(r"^manylinux_(\d+)_(\d+)_(.+)$", platform)
    if match:
        return match.group(3), (int(match.group(1)), int(match.group(2)))
    for alias, version in legacy.items():
        if platform.startswith(alias + "_"):
            return platform[len(alias) + 1:], version
    return None


@dataclass
class _VersionFiles:
    version: Version
    wheels: list[tuple[IndexFile, frozenset[Tag]]] = field(default_factory=list)
    sdists: list[IndexFile] = field(default_factory=list)


def _group_by_version(files: Iterable[IndexFile]) -> list[_VersionFiles]:
    groups: dict[Version, _VersionFiles] = {}
    for f in files:
        if f.yanked:
            continue
        try:
            if f.is_wheel:
                _n, version, _b, tags = parse_wheel_filename(f.filename)
                groups.setdefault(version, _VersionFiles(version)).wheels.append((f, frozenset(tags)))
            else:
                _n, version = parse_sdist_filename(f.filename)
                groups.setdefault(version, _VersionFiles(version)).sdists.append(f)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
    return sorted(groups.values(), key=lambda g: g.version, reverse=True)


def _version_fits(group: _VersionFiles, profile: Profile) -> bool:
    return any(_wheel_fits(tags, profile) and _python_admits(f.requires_python, profile)
               for f, tags in group.wheels)


def _why_not(group: _VersionFiles, profile: Profile, name: str) -> str:
    """Why the wheels of one version do not fit, naming the nearest ones."""
    v = f"{name} {group.version}"
    python_ok = [(f, t) for f, t in group.wheels if _python_admits(f.requires_python, profile)]
    if group.wheels and not python_ok:
        rp = group.wheels[0][0].requires_python
        return f"{v} requires Python {rp}; {profile.name} has {profile.python_full_version}"
    if not group.wheels:
        if group.sdists and not _python_admits(group.sdists[0].requires_python, profile):
            return f"{v} requires Python {group.sdists[0].requires_python}; {profile.name} has {profile.python_full_version}"
        return f"{v} has only an sdist ({group.sdists[0].filename})" if group.sdists else f"{v} has no files"
    interp_ok = {(t.interpreter, t.abi) for t in profile.tags}
    right_python = [(f, t) for f, t in python_ok if any((x.interpreter, x.abi) in interp_ok for x in t)]
    if right_python:
        platforms = sorted({x.platform for _f, t in right_python for x in t})
        same_arch = [p for p in platforms if (g := _glibc_of(p)) and g[0] == profile.arch]
        if same_arch:
            newest_needed = min(_glibc_of(p)[1] for p in same_arch)  # type: ignore[index]
            families = ", ".join(sorted({p.rsplit("_" + profile.arch, 1)[0] for p in same_arch}))
            if newest_needed > profile.glibc:
                return (f"{v} has only {families} wheels for {profile.arch} "
                        f"(glibc {newest_needed[0]}.{newest_needed[1]} or newer); "
                        f"{profile.name} has glibc {profile.glibc_version}")
        return f"{v} has {profile.abi}-compatible wheels only for {', '.join(platforms[:6])}; {profile.name} is linux {profile.arch}"
    interpreters = sorted({x.interpreter for _f, t in python_ok for x in t})
    return (f"{v} has wheels only for {', '.join(interpreters[:8])}; "
            f"{profile.name} is CPython {profile.python_version} ({profile.abi})")


def diagnose_no_wheel(name: str, profile: Profile, files: Sequence[IndexFile], *,
                      wanted: SpecifierSet | None = None, where: str | None = None,
                      unreadable: Sequence[str] = (), uv_platform: str | None = None,
                      allow_pure_sdist: bool = False) -> NoCompatibleWheelError:
    """The error for a distribution with no wheel the target accepts."""
    groups = _group_by_version(files)
    required = f" (required at {where})" if where else ""
    head = (f"No wheel of {name}{required} fits {profile.name} (CPython {profile.python_full_version}, "
            f"{profile.arch}, glibc {profile.glibc_version}).")
    tried = f"Tags tried: {tags_tried_summary(profile)}."
    if not groups:
        seen = f"No files for {name} were found on {', '.join(unreadable) or 'the index'}" if unreadable else \
            f"The index lists no files for {name}"
        return NoCompatibleWheelError(f"{head} {seen}. {tried}",
                                      "Check the name and the index options, then run again.")
    versions = f"{len(groups)} (" + ", ".join(str(g.version) for g in groups[:10]) + (", …)" if len(groups) > 10 else ")")
    in_range = [g for g in groups if wanted is None or wanted.contains(g.version, prereleases=True)]
    focus = in_range[0] if in_range else groups[0]
    reason = _why_not(focus, profile, name)
    fitting = [g for g in groups if _version_fits(g, profile)]
    hints = []
    if fitting and fitting[0] in in_range and uv_platform and \
            uv_platform.rsplit("manylinux_", 1)[-1] != f"{profile.glibc[0]}_{profile.glibc[1]}":
        reason += (f"; a wheel for {profile.glibc_version} exists ({fitting[0].version}), but uv can only "
                   f"target {uv_platform} for this runtime")
    if fitting and fitting[0] not in in_range:
        hints.append(f"pin {name}=={fitting[0].version} (the newest version with a wheel for {profile.name})")
    elif fitting and fitting[0] is not focus:
        hints.append(f"pin {name}=={fitting[0].version}")
    if "glibc" in reason and "requires Python" not in reason:
        others = _runtimes_that_fit(focus, profile)
        if others:
            hints.append(f"choose a runtime with a newer glibc that this wheel fits, such as {', '.join(others)}")
        else:
            hints.append("choose a runtime with a newer glibc")
    if not focus.wheels and focus.sdists:
        hints.append("pass --allow-pure-sdist if it is pure Python" if not allow_pure_sdist
                     else "install a wheel built for the target instead")
    if not hints:
        hints.append(f"pin {name} to a version that publishes a wheel for {profile.name}, or choose another runtime")
    hint = "To fix it: " + "; or ".join(hints) + "."
    return NoCompatibleWheelError(f"{head} Versions seen: {versions}. {tried} Nearest: {reason}.", hint)


def _runtimes_that_fit(group: _VersionFiles, profile: Profile) -> list[str]:
    from fcslim.target.profile import builtin_profiles

    fits = []
    for other in builtin_profiles().values():
        if other.name != profile.name and other.arch == profile.arch and _version_fits(group, other):
            fits.append(f"{other.name} (glibc {other.glibc_version})")
    return fits[:3]


# -- sdists --------------------------------------------------------------------

_NATIVE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".f", ".f90", ".cu", ".go", ".m")
_NATIVE_FILES = ("Cargo.toml", "CMakeLists.txt", "meson.build")


def native_sources(archive: bytes, filename: str) -> list[str]:
    """Members of an sdist that mean it compiles native code."""
    names: list[str] = []
    setup_text = ""
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            names = zf.namelist()
            setup = [n for n in names if n.count("/") <= 1 and n.endswith("setup.py")]
            if setup:
                setup_text = zf.read(setup[0]).decode("utf-8", "replace")
    else:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tf:
            members = tf.getmembers()
            names = [m.name for m in members]
            setup = [m for m in members if m.name.count("/") <= 1 and m.name.endswith("setup.py")]
            if setup:
                handle = tf.extractfile(setup[0])
                setup_text = handle.read().decode("utf-8", "replace") if handle else ""
    native = [n for n in names if n.endswith(_NATIVE_SUFFIXES) or n.rsplit("/", 1)[-1] in _NATIVE_FILES]
    if "ext_modules" in setup_text or "Extension(" in setup_text:
        native.append("setup.py (ext_modules)")
    return native


def _read_file(f: IndexFile, timeout: float) -> bytes:
    if f.url.startswith("file:"):
        return Path(unquote(urlparse(f.url).path)).read_bytes()
    return _fetch(f.url, timeout)[0]


def _check_sdists_pure(names: Sequence[str], sources: _Sources, profile: Profile, timeout: float) -> None:
    """Refuse (before building) any sdist among ``names`` that carries native code."""
    for name in names:
        files, _unreadable = index_files(name, sources, timeout)
        groups = [g for g in _group_by_version(files) if g.sdists]
        if not groups:
            continue
        sdist = groups[0].sdists[0]
        try:
            native = native_sources(_read_file(sdist, timeout), sdist.filename)
        except (OSError, urllib.error.URLError, tarfile.TarError, zipfile.BadZipFile):
            continue  # the built wheel is checked for purity after installing
        if native:
            shown = ", ".join(native[:4]) + (" …" if len(native) > 4 else "")
            raise NativeSdistError(
                f"{name} has no wheel for {profile.name} and its sdist {sdist.filename} compiles native code "
                f"({shown}); fcslim builds only pure-Python sdists, because a native build on this host "
                "would not match the target.",
                f"Use a version of {name} that publishes a manylinux wheel for {profile.python_version} "
                f"{profile.arch}, or build the wheel in a manylinux container for glibc {profile.glibc_version} "
                "and pass its directory with --find-links.",
            )


# -- the installed tree --------------------------------------------------------


def _compress_tags(tags: Sequence[Tag]) -> str:
    interps = sorted({t.interpreter for t in tags})
    abis = sorted({t.abi for t in tags})
    plats = sorted({t.platform for t in tags})
    return f"{'.'.join(interps)}-{'.'.join(abis)}-{'.'.join(plats)}"


def read_installed(dest: Path) -> list[InstalledDistribution]:
    """Every distribution installed in a pip ``-t`` style tree."""
    dists = []
    for info in sorted(Path(dest).glob("*.dist-info")):
        if not info.is_dir():
            continue
        meta = read_metadata(info)
        wheel_meta = email.parser.Parser().parsestr(
            (info / "WHEEL").read_text(encoding="utf-8", errors="replace") if (info / "WHEEL").exists() else "",
            headersonly=True,
        )
        tags: list[Tag] = []
        for value in wheel_meta.get_all("Tag") or []:
            tags.extend(parse_tag(value.strip()))
        name = meta.get("Name", info.name.split("-")[0])
        version = meta.get("Version", "")
        # RECORD paths outside the tree: pip -t puts nothing there, but RECORD may say so
        files = [rel for rel in read_record(info) or [] if inside_tree(rel)]
        size = 0
        root = os.fspath(Path(dest))
        for rel in files:
            try:
                size += os.stat(os.path.join(root, rel)).st_size
            except OSError:
                pass
        pure = wheel_meta.get("Root-Is-Purelib", "").strip().lower() == "true" and all(
            t.abi == "none" and t.platform == "any" for t in tags
        )
        dist = re.sub(r"[-_.]+", "_", name)
        dists.append(InstalledDistribution(
            name=name,
            version=version,
            wheel=f"{dist}-{version}-{_compress_tags(tags)}.whl" if tags else f"{dist}-{version}.whl",
            tags=tuple(str(t) for t in tags),
            requires_python=(meta.get("Requires-Python") or None),
            files=tuple(sorted(files)),
            size=size,
            dist_info=info.name,
            pure=pure,
        ))
    return dists


def check_installed(dists: Sequence[InstalledDistribution], profile: Profile,
                    built_from_sdist: Iterable[str] = ()) -> None:
    """Fail loudly if anything installed is not for the target."""
    built = {canonicalize_name(n) for n in built_from_sdist}
    for d in dists:
        key = canonicalize_name(d.name)
        if key in built and not d.pure:
            raise NativeSdistError(
                f"{d.name} {d.version} was built from its sdist and the result is not pure Python "
                f"(tags {', '.join(d.tags) or 'none'}); a native build on this host does not fit {profile.name}.",
                f"Use a version of {d.name} that publishes a wheel for {profile.name}, or build one in a "
                f"manylinux container for glibc {profile.glibc_version} and pass it with --find-links.",
            )
        tags = [t for s in d.tags for t in parse_tag(s)]
        if not _wheel_fits(tags, profile):
            raise TargetMismatchError(
                f"{d.name} {d.version} was installed from a wheel tagged {', '.join(d.tags) or '(no tags)'}, "
                f"which {profile.name} does not accept (it takes {tags_tried_summary(profile)}).",
                "This is a resolver bug: nothing was written to the output. Report it, and pin another version of "
                f"{d.name} meanwhile.",
            )
        if not _python_admits(d.requires_python, profile):
            raise TargetMismatchError(
                f"{d.name} {d.version} requires Python {d.requires_python}, but {profile.name} runs "
                f"{profile.python_full_version}.",
                f"Pin an older {d.name} that supports Python {profile.python_version}. This is a resolver bug: "
                "nothing was written to the output.",
            )


# -- the engine run, with failures turned into fcslim errors -------------------


@dataclass
class _Context:
    reqs: RequirementsFile
    profile: Profile
    sources: _Sources
    options: InstallOptions
    uv: str


def _raise_for_failure(run: _UvRun, ctx: _Context, no_binary: set[str]) -> None:
    text = _clean_uv_text(run.stderr)
    raw = run.stderr
    profile = ctx.profile
    if run.returncode == 2 and "Usage:" in raw:
        raise EngineError(f"uv rejected fcslim's arguments: {text}",
                          "This is a bug in fcslim; report it with the uv version (`uv --version`).")
    hash_names = _names([_HASH_MISMATCH], raw)
    if hash_names:
        expected = re.search(r"Expected:\s+(\S+)", raw)
        computed = re.search(r"Computed:\s+(\S+)", raw)
        raise HashMismatchError(
            f"The file downloaded for {', '.join(hash_names)} does not match the hash in {ctx.reqs.path}"
            + (f" (expected {expected.group(1)}, got {computed.group(1)})" if expected and computed else "")
            + "; nothing was installed.",
            "If the index is right and the lock is stale, re-run `fcslim lock`; otherwise the file was "
            "tampered with or corrupted on the way: do not use it.",
        )
    missing = _MISSING_HASH.search(raw)
    if missing or "Hash-checking is required" in raw:
        names = re.findall(r"`([^`]+)`", missing.group(1)) if missing else []
        raise IncompleteLockError(
            f"The lock {ctx.reqs.path} has no pinned, hashed line for {', '.join(names) or 'some distributions'}, "
            f"which {profile.name} needs (it was probably made for another runtime, or edited by hand).",
            f"Re-create it with `fcslim lock <requirements.in> --runtime {profile.name}` and run again.",
        )
    if any(h in raw for h in _NETWORK_HINTS) or re.search(r"Failed to (fetch|download)[^\n]*\n\s+cause: (error sending|request failed)", raw, re.I):
        url = _URL.search(raw)
        place = url.group(1).rstrip(".,:") if url else ctx.sources.describe()
        raise NetworkError(
            f"The package index could not be reached: {place} ({_network_reason(raw)}).",
            "Check the network, a proxy (HTTPS_PROXY) or the --index-url; to work offline pass "
            "--no-index --find-links DIR with the wheels you need.",
        )
    parse_error = re.search(r"Couldn't parse requirement in `[^`]*` at position \d+\s*(.*)", raw)
    if parse_error:
        raise InputError(f"A requirement in {ctx.reqs.path} is not valid: {' '.join(parse_error.group(1).split())}",
                         "Fix that requirement line and run again.")
    if "Failed to read `--find-links`" in raw or "find-links" in text and "not found" in text:
        raise InputError(f"A --find-links location could not be read: {text}",
                         "Pass an existing directory of wheels or a reachable URL.")
    unknown = _names([_UNKNOWN], raw)
    if unknown:
        places = ctx.sources.describe()
        lines = [f"{n} (at {ctx.reqs.locate(n).where})" if ctx.reqs.locate(n) else f"{n} (a dependency)"
                 for n in unknown]
        raise UnknownPackageError(
            f"Unknown package {', '.join(lines)}: it is not on {places}.",
            "Check the spelling against the index, or add the index that publishes it with "
            "--index-url/--extra-index-url or a --find-links directory.",
        )
    if re.search(r"Failed to (build|download and build)", raw):
        name = re.search(r"Failed to (?:build|download and build) `([^`=]+)", raw)
        culprit = name.group(1) if name else "an sdist"
        raise NativeSdistError(
            f"Building {culprit} from its sdist failed ({text[:400]}); fcslim builds only pure-Python "
            "sdists that need nothing beyond their own source.",
            f"Use a version of {culprit} that publishes a wheel for {profile.name}, or build a wheel for the "
            "target yourself and pass its directory with --find-links.",
        )
    no_wheel = _names(_NO_WHEEL_PATTERNS, raw)
    sdist_only = _names([_SDIST_ONLY], raw)
    if no_wheel or sdist_only:
        name = (no_wheel or sdist_only)[0]
        files, unreadable = index_files(name, ctx.sources, ctx.options.timeout)
        line = ctx.reqs.locate(name)
        raise diagnose_no_wheel(
            name, profile, files,
            wanted=line.requirement.specifier if line and line.requirement.specifier else None,
            where=line.where if line else None, unreadable=unreadable,
            uv_platform=uv_python_platform(profile, ctx.uv), allow_pure_sdist=ctx.options.allow_pure_sdist,
        )
    if "No solution found" in raw or "unsatisfiable" in raw:
        names = _conflict_names(text, ctx.reqs)
        places = [line.where for n in names for line in ctx.reqs.locate_all(n)]
        explanation = text.replace("No solution found when resolving dependencies ", "")
        raise ConflictError(
            f"The requirements conflict for {profile.name}: {explanation}"
            + (f" (see {', '.join(places)})" if places else ""),
            "Relax or remove one of the conflicting pins so a single version can satisfy all of them.",
        )
    raise ResolutionError(
        f"Installing for {profile.name} failed: {text or 'uv exited with status ' + str(run.returncode)}",
        "Fix the cause named above and run again.",
    )


def _network_reason(raw: str) -> str:
    for hint in ("dns error", "Connection refused", "timed out", "certificate", "Network is unreachable",
                 "Connection reset"):
        if hint in raw:
            return {"dns error": "the host name does not resolve",
                    "Connection refused": "connection refused",
                    "timed out": "timed out",
                    "certificate": "TLS certificate problem",
                    "Network is unreachable": "network unreachable",
                    "Connection reset": "connection reset"}[hint]
    return "request failed"


def _conflict_names(text: str, reqs: RequirementsFile) -> list[str]:
    found = []
    for match in re.finditer(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:==|>=|<=|!=|~=|>|<)", text):
        name = canonicalize_name(match.group(1))
        if name not in found and reqs.locate(name):
            found.append(name)
    return found


def _run_with_sdist_retries(build_argv, ctx: _Context, env: dict[str, str]) -> tuple[_UvRun, set[str]]:
    """Run uv; with ``allow_pure_sdist``, let sdist-only distributions be built
    (after checking their sdists are pure) and try again."""
    no_binary = {canonicalize_name(n) for n in ctx.reqs.no_binary} if ctx.options.allow_pure_sdist else set()
    for _attempt in range(10):
        run = _run_uv(build_argv(no_binary), env)
        if run.returncode == 0:
            return run, no_binary
        sdist_only = [n for n in _names([_SDIST_ONLY], run.stderr) if n not in no_binary]
        if ctx.options.allow_pure_sdist and sdist_only:
            _check_sdists_pure(sdist_only, ctx.sources, ctx.profile, ctx.options.timeout)
            no_binary.update(sdist_only)
            continue
        _raise_for_failure(run, ctx, no_binary)
    raise ResolutionError("Too many distributions need building from sdists.",
                          "Pin versions that publish wheels for the target.")


def _context(reqs: RequirementsFile, profile: Profile, options: InstallOptions) -> _Context:
    return _Context(reqs, profile, _sources(reqs, options), options, uv_binary(options.uv))


def install(requirements: Path, profile: Profile, dest: Path, options: InstallOptions | None = None) -> InstallResult:
    """Install ``requirements`` for ``profile`` into the empty directory ``dest``.

    ``requirements`` may be a plain requirement file or a lock (every line with
    ``--hash``): a lock is installed with hashes checked and must have been made
    for a compatible target.  Raises an :class:`FcslimError` subclass on any
    failure; ``dest`` may then hold partial files (callers stage it).
    """
    from fcslim.resolve.lockfile import check_lock_target, file_sha256

    options = options or InstallOptions()
    started = time.monotonic()
    reqs = parse_requirements(requirements)
    ctx = _context(reqs, profile, options)
    hashed = reqs.hashed if options.require_hashes is None else options.require_hashes
    if reqs.hashed:
        check_lock_target(reqs, profile)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    env = _uv_env(options)
    platform = uv_python_platform(profile, ctx.uv)
    with tempfile.TemporaryDirectory(prefix="fcslim-req-") as tmp:
        req_file, con_file = reqs.write_normalised(Path(tmp))

        def argv(no_binary: set[str]) -> list[str]:
            out = [ctx.uv, "pip", "install", "--target", str(dest), "-r", str(req_file),
                   *_target_args(profile, ctx.uv), *_build_args(no_binary), *ctx.sources.args(),
                   "--link-mode", options.link_mode, "--python", sys.executable]
            if con_file:
                out += ["-c", str(con_file)]
            if hashed:
                out.append("--require-hashes")
            if options.pre or reqs.pre:
                out += ["--prerelease", "allow"]
            return out

        if not reqs.requirements:
            run, built = None, set()
        else:
            run, built = _run_with_sdist_retries(argv, ctx, env)
    for leftover in (".lock",):
        (dest / leftover).unlink(missing_ok=True)
    dists = read_installed(dest)
    built_names = sorted(n for n in built if any(canonicalize_name(d.name) == n for d in dists))
    check_installed(dists, profile, built_names)
    return InstallResult(
        dest=dest,
        profile=profile,
        distributions=dists,
        requirements_path=Path(requirements),
        requirements_sha256=reqs.sha256(),
        requirements=[str(r.requirement) for r in reqs.requirements],
        hash_checked=hashed,
        lock_sha256=file_sha256(Path(requirements)) if reqs.hashed else None,
        built_from_sdist=built_names,
        engine={"name": "uv", "version": uv_version(ctx.uv), "python_platform": platform,
                "python_version": profile.python_full_version},
        seconds=time.monotonic() - started,
    )


def compile_requirements(requirements: Path, profile: Profile, options: InstallOptions | None = None) -> str:
    """Pin ``requirements`` for ``profile`` with hashes (pip-tools format, no header)."""
    options = options or InstallOptions()
    reqs = parse_requirements(requirements)
    if reqs.hashed:
        raise InputError(
            f"{requirements} is already a lock (its lines carry --hash); locking it again would only copy it.",
            "Pass the loose requirements (requirements.in) to `fcslim lock`, or install the lock with `fcslim resolve`.",
        )
    ctx = _context(reqs, profile, options)
    env = _uv_env(options)
    if not reqs.requirements:
        return ""
    with tempfile.TemporaryDirectory(prefix="fcslim-lock-") as tmp:
        req_file, con_file = reqs.write_normalised(Path(tmp))
        out_file = Path(tmp) / "out.txt"

        def argv(no_binary: set[str]) -> list[str]:
            out = [ctx.uv, "pip", "compile", str(req_file), "-o", str(out_file), "--quiet",
                   *_target_args(profile, ctx.uv), *_build_args(no_binary), *ctx.sources.args(),
                   "--generate-hashes", "--no-header", "--annotation-style", "split"]
            if con_file:
                out += ["-c", str(con_file)]
            if options.pre or reqs.pre:
                out += ["--prerelease", "allow"]
            return out

        _run_with_sdist_retries(argv, ctx, env)
        text = out_file.read_text()
    # uv names the temporary file it read; name the user's instead.
    return text.replace(str(req_file), str(requirements)).replace(f"-r {requirements}", f"-r {Path(requirements).name}")
