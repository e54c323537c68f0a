"""uv's failure messages, read as data: unwrapped first, then classified.

uv prints each diagnostic as ``error:`` / ``cause:`` / ``hint:`` entries and
wraps them at the terminal's width (``COLUMNS``, 80 when stderr is not a
terminal, as under pytest-xdist), so a phrase such as "was not found in the
provided package locations" may be split over two lines.  :func:`parse`
joins every continuation line back onto its entry before anything is matched,
so the classification is the same at any width.

Pure functions, no I/O: :func:`classify` says what kind of failure uv reported
and names the distributions involved; the resolver turns that into an
:class:`~fcslim.core.errors.FcslimError` with the user's context.
"""

from __future__ import annotations

import enum
import errno
import re
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

_ENTRY = re.compile(r"^\s*(error|warning|cause|hint|help|Caused by):\s?(.*)$")
# uv's progress lines (col 0, no prefix) are not part of any diagnostic.
_PROGRESS = ("Using ", "Resolved ", "Prepared ", "Installed ", "Uninstalled ", "Audited ", "Building ",
             "Built ", "Downloading ", "Downloaded ", " + ", " - ")


@dataclass(frozen=True)
class Entry:
    """One diagnostic line of uv's, unwrapped: ``error``, ``cause``, ``hint`` or
    ``warning``; ``top`` is the level of the diagnostic it belongs to (a
    warning's causes are the warning's)."""

    level: str
    text: str
    top: str


def parse(stderr: str) -> list[Entry]:
    """uv's stderr as entries, each continuation line joined onto its entry."""
    entries: list[Entry] = []
    current: list[str] | None = None
    level = top = ""

    def close() -> None:
        if current is not None:
            entries.append(Entry(level, " ".join(" ".join(current).split()), top))

    for line in stderr.splitlines():
        match = _ENTRY.match(line)
        if match:
            close()
            level = "cause" if match.group(1) == "Caused by" else match.group(1)
            if level in ("error", "warning") or not line[:1].isspace():
                top = level
            current = [match.group(2)]
        elif not line.strip():
            continue  # blank lines separate parts of one entry (hash mismatches) or entries
        elif line[:1].isspace() and current is not None and not line.lstrip().startswith(("+ ", "- ")):
            current.append(line.strip())
        else:
            close()
            current = None  # progress or other undecorated output
    close()
    return entries


class Failure(enum.Enum):
    USAGE = "usage"
    HASH_MISMATCH = "hash-mismatch"
    MISSING_HASH = "missing-hash"
    NETWORK = "network"
    REQUIREMENT_SYNTAX = "requirement-syntax"
    FIND_LINKS = "find-links"
    BUILD = "build"
    UNKNOWN_PACKAGE = "unknown-package"
    NO_WHEEL = "no-wheel"
    CONFLICT = "conflict"
    HOST = "host"  # the file system refused a write (read-only, permission, full disk)
    OTHER = "other"


@dataclass(frozen=True)
class Classified:
    """What uv's failure was: its kind, the distributions it names, the
    unwrapped message (error and causes) and its details."""

    kind: Failure
    text: str
    names: tuple[str, ...] = ()
    sdist_only: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)


_NAME = r"`?([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:(?:==|>=|<=|!=|~=|>|<)[^\s`]*)?`?"
_NO_WHEEL = [
    re.compile(_NAME + r" has no (?:usable |compatible )?wheels"),
    re.compile(r"all versions of " + _NAME + r" have no (?:usable |compatible )?wheels"),
    re.compile(_NAME + r" (?:requires|depends on) Python"),
    re.compile(r"Wheels are required for `([^`]+)`"),
]
_SDIST_ONLY = re.compile(r"Wheels are required for `([^`]+)` because building from source is disabled")
_UNKNOWN = re.compile(_NAME + r" was not found in the (?:package registry|provided package locations)")
_HASH_MISMATCH = re.compile(r"Hash mismatch for `([^`=<>!~ ]+)")
_MISSING_HASH = re.compile(r"no trusted hash was provided for: (.+)")
_BUILD = re.compile(r"^Failed to (?:build|download and build) `([^`=\s]+)")
_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_PATH = re.compile(r"(?:to|at|in|directory|file) `(/[^`]+)`")
_URL = re.compile(r"(https?://[^\s`'\")]+|file://[^\s`'\")]+)")
# (phrase in a cause, reason as fcslim says it), in order of precedence
NETWORK_REASONS = (
    ("dns error", "the host name does not resolve"),
    ("Connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("certificate", "TLS certificate problem"),
    ("Network is unreachable", "network unreachable"),
    ("Connection reset", "connection reset"),
    ("tcp connect error", "connection failed"),
    ("error sending request", "request failed"),
    ("Could not connect", "connection failed"),
)


HOST_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR}


def names_in(pattern: re.Pattern, text: str) -> list[str]:
    """Canonical names the pattern's first group captures, in order, once each."""
    found: list[str] = []
    for match in pattern.finditer(text):
        name = canonicalize_name(match.group(1))
        if name not in found:
            found.append(name)
    return found


def sdist_only_names(stderr: str) -> list[str]:
    """Distributions uv would build from an sdist if building were allowed."""
    return names_in(_SDIST_ONLY, " ".join(e.text for e in parse(stderr)))


def classify(stderr: str, returncode: int = 1) -> Classified:
    """What went wrong, from uv's stderr (warnings and progress ignored)."""
    entries = [e for e in parse(stderr) if e.top != "warning"]
    errors = [e.text for e in entries if e.level in ("error", "cause")]
    text = " ".join(errors)
    everything = " ".join(e.text for e in entries)
    top = errors[0] if errors else ""
    if returncode == 2 and "Usage:" in stderr:
        return Classified(Failure.USAGE, text or stderr.strip())
    hashes = names_in(_HASH_MISMATCH, everything)
    if hashes:
        expected = re.search(r"Expected:\s+(\S+)", everything)
        computed = re.search(r"Computed:\s+(\S+)", everything)
        details = {"expected": expected.group(1), "computed": computed.group(1)} if expected and computed else {}
        return Classified(Failure.HASH_MISMATCH, text, tuple(hashes), details=details)
    missing = _MISSING_HASH.search(everything)
    if missing or "Hash-checking is required" in everything:
        names = [canonicalize_name(n) for n in re.findall(r"`([^`]+)`", missing.group(1))] if missing else []
        return Classified(Failure.MISSING_HASH, text, tuple(names))
    reason = next((said for phrase, said in NETWORK_REASONS if phrase in text), None)
    if reason:
        url = _URL.search(text)
        details = {"reason": reason}
        if url:
            details["url"] = url.group(1).rstrip(".,:")
        return Classified(Failure.NETWORK, text, details=details)
    host = _OS_ERROR.search(text)
    if host and int(host.group(1)) in HOST_ERRNOS:
        path = _PATH.search(text)
        return Classified(Failure.HOST, text, details={"errno": host.group(1),
                                                      "path": path.group(1) if path else ""})
    syntax = re.search(r"Couldn't parse requirement in `[^`]*` at position \d+ ?(.*)", text)
    if syntax:
        return Classified(Failure.REQUIREMENT_SYNTAX, text, details={"problem": syntax.group(1).strip()})
    if "Failed to read `--find-links`" in top or ("find-links" in top and "not found" in top):
        return Classified(Failure.FIND_LINKS, text)
    build = _BUILD.match(top)
    if build:
        return Classified(Failure.BUILD, text, (canonicalize_name(build.group(1)),))
    unknown = names_in(_UNKNOWN, text)
    if unknown:
        return Classified(Failure.UNKNOWN_PACKAGE, text, tuple(unknown))
    sdist_only = names_in(_SDIST_ONLY, everything)
    no_wheel = [n for pattern in _NO_WHEEL for n in names_in(pattern, everything)]
    if no_wheel or sdist_only:
        names = tuple(dict.fromkeys(no_wheel + sdist_only))
        return Classified(Failure.NO_WHEEL, text, names, tuple(sdist_only))
    if "No solution found" in text or "unsatisfiable" in text:
        return Classified(Failure.CONFLICT, text)
    return Classified(Failure.OTHER, text)


def conflict_explanation(text: str) -> str:
    """uv's resolver explanation without its preamble."""
    return re.sub(r"^No solution found when resolving dependencies:?\s*", "", text)
