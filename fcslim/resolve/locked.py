"""Exact pins read from a lock (uv.lock, pylock.toml): the files, their hashes,
and the one wheel the target installs.

A lock names every file a package may be installed from; the target decides
which one.  :func:`choose_wheel` takes the wheel whose best tag ranks highest
in the profile's ordered tags (the order pip and uv use: most specific first),
so a lock made on a laptop installs the manylinux wheel for a runtime.  The
chosen files become hashed direct-URL requirements (``name @ URL --hash``),
installed with ``--no-deps``: exactly the lock's set, every byte checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from fcslim.core.hashing import file_sha256
from fcslim.core.errors import InputError, NoCompatibleWheelError
from fcslim.target.profile import Profile


@dataclass(frozen=True)
class LockedFile:
    """One file a lock allows, with its digest (None when the lock has none)."""

    filename: str
    url: str  # https://…, or file://… for a path the lock names
    sha256: str | None
    size: int | None = None


@dataclass(frozen=True)
class LockedPackage:
    """One package a lock pins for the target."""

    name: str
    version: str
    wheels: tuple[LockedFile, ...]
    sdist: LockedFile | None
    where: str  # e.g. "uv.lock: package numpy 2.1.3", for messages


@dataclass(frozen=True)
class LockedSet:
    """What a lock installs on one target."""

    path: Path
    format: str  # "uv.lock" | "pylock.toml"
    packages: tuple[LockedPackage, ...]


def check_requires_python(spec: str | None, profile: Profile, where: str) -> None:
    """Refuse a lock whose ``requires-python`` excludes the target's Python."""
    if not spec:
        return
    try:
        allowed = SpecifierSet(spec)
    except InvalidSpecifier as exc:
        raise InputError(f"{where}: requires-python {spec!r} is not a valid specifier ({exc}).",
                         "Re-create the lock with the tool that wrote it.") from exc
    if not allowed.contains(profile.python_full_version, prereleases=True):
        raise InputError(
            f"{where} requires Python {spec}, but {profile.name} runs Python {profile.python_full_version}.",
            f"Lock for Python {profile.python_version} (e.g. `requires-python = \">={profile.python_version}\"` "
            "in pyproject.toml, then lock again), or pick a runtime whose Python the lock allows.",
        )


def choose_wheel(package: LockedPackage, profile: Profile) -> LockedFile:
    """The wheel ``profile`` prefers among those the lock names for ``package``."""
    best: tuple[int, LockedFile] | None = None
    for wheel in package.wheels:
        try:
            tags = parse_wheel_filename(wheel.filename)[3]
        except InvalidWheelFilename as exc:
            raise InputError(f"{package.where}: {wheel.filename!r} is not a wheel file name ({exc}).",
                             "Re-create the lock with the tool that wrote it.") from exc
        ranks = [r for r in (profile.tag_rank(t) for t in tags) if r is not None]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), wheel)
    if best is not None:
        return best[1]
    names = ", ".join(w.filename for w in package.wheels[:6]) or "none"
    more = f" and {len(package.wheels) - 6} more" if len(package.wheels) > 6 else ""
    raise NoCompatibleWheelError(
        f"The lock pins {package.name} {package.version} ({package.where}), but none of its wheels installs on "
        f"{profile.name} (CPython {profile.python_version}, {profile.arch}, glibc {profile.glibc_version}); "
        f"wheels in the lock: {names}{more}"
        + ("; it has only an sdist, and fcslim installs wheels from a lock." if package.sdist and not package.wheels
           else "."),
        f"Lock for the target (e.g. `fcslim lock INPUT --runtime {profile.name} -o pylock.toml`, or "
        "`uv lock` with a `tool.uv.environments`/`required-environments` entry for this platform), "
        "or pin a version that publishes a wheel for it.",
    )


def hashed_requirements(locked: LockedSet, profile: Profile) -> tuple[str, list[str]]:
    """The lock as a pip requirement file for ``profile`` (one hashed
    ``name @ URL`` line per package; install it with ``--no-deps``), and the
    packages whose local wheel the lock gives no digest for (uv does not hash
    find-links directories): those are hashed as found, and named."""
    lines, unhashed = [], []
    for package in locked.packages:
        wheel = choose_wheel(package, profile)
        digest = wheel.sha256
        if digest is None:
            # urllib.request (http.client, email, ssl) costs 15 ms of every
            # run's start-up (python -X importtime): imported only here.
            from urllib.request import url2pathname

            local = Path(url2pathname(urlparse(wheel.url).path)) if wheel.url.startswith("file:") else None
            if local is None or not local.is_file():
                raise InputError(
                    f"{package.where}: the wheel {wheel.filename} has no sha256 in the lock, so its bytes cannot be "
                    "checked" + ("." if local is None else f", and {local} does not exist."),
                    "Lock against an index that publishes hashes (PyPI does), or keep the local wheel in place.",
                )
            digest = file_sha256(local)
            unhashed.append(package.name)
        lines.append(f"{package.name} @ {wheel.url} --hash=sha256:{digest}")
    return "".join(f"{line}\n" for line in lines), unhashed
