"""uv's failures as fcslim errors, one paragraph each, with the user's context.

:mod:`fcslim.resolve.uv_messages` says what kind of failure uv reported; this
module names the requirement line, the index and what to do, and asks the
index itself why no wheel fits (:mod:`fcslim.resolve.diagnose`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from fcslim.core.errors import (
    ConflictError,
    FcslimError,
    HashMismatchError,
    InputError,
    NativeSdistError,
    NetworkError,
    ResolutionError,
    UnknownPackageError,
)
from fcslim.core.files import location_error
from fcslim.resolve.diagnose import diagnose_no_wheel
from fcslim.resolve.index import Sources, index_files
from fcslim.resolve.requirements import RequirementsFile
from fcslim.resolve.uv import EngineError, UvPlatform, UvRun
from fcslim.resolve.uv_messages import Classified, Failure, classify, conflict_explanation
from fcslim.target.profile import Profile


class IncompleteLockError(ResolutionError):
    """A lock without a pin (and hash) for a distribution the target needs."""


@dataclass(frozen=True)
class FailureContext:
    """What a failure message names besides uv's own words."""

    reqs: RequirementsFile
    profile: Profile
    sources: Sources
    platform: UvPlatform
    timeout: float
    allow_pure_sdist: bool


def raise_for_failure(run: UvRun, ctx: FailureContext) -> None:
    """Raise the :class:`FcslimError` that says what uv's failure means."""
    failure = classify(run.stderr, run.returncode)
    raise error_for(failure, ctx, run.returncode)


def error_for(failure: Classified, ctx: FailureContext, returncode: int = 1) -> FcslimError:
    text, profile, reqs = failure.text, ctx.profile, ctx.reqs
    kind = failure.kind
    if kind is Failure.USAGE:
        return EngineError(f"uv rejected fcslim's arguments: {text}",
                           "This is a bug in fcslim; report it with the uv version (`uv --version`).")
    if kind is Failure.HASH_MISMATCH:
        got = failure.details
        return HashMismatchError(
            f"The file downloaded for {', '.join(failure.names)} does not match the hash in {reqs.path}"
            + (f" (expected {got['expected']}, got {got['computed']})" if got else "")
            + "; nothing was installed.",
            "If the index is right and the lock is stale, re-run `fcslim lock`; otherwise the file was "
            "tampered with or corrupted on the way: do not use it.",
        )
    if kind is Failure.MISSING_HASH:
        return IncompleteLockError(
            f"The lock {reqs.path} has no pinned, hashed line for {', '.join(failure.names) or 'some distributions'}, "
            f"which {profile.name} needs (it was probably made for another runtime, or edited by hand).",
            f"Re-create it with `fcslim lock <requirements.in> --runtime {profile.name}` and run again.",
        )
    if kind is Failure.NETWORK:
        place = failure.details.get("url") or ctx.sources.describe()
        return NetworkError(
            f"The package index could not be reached: {place} ({failure.details['reason']}).",
            "Check the network, a proxy (HTTPS_PROXY) or the --index-url; to work offline pass "
            "--no-index --find-links DIR with the wheels you need.",
        )
    if kind is Failure.HOST:
        code = int(failure.details["errno"])
        host = location_error(OSError(code, os.strerror(code)), failure.details["path"] or None,
                              "file uv was writing")
        if host is not None:
            return host
    if kind is Failure.REQUIREMENT_SYNTAX:
        return InputError(f"A requirement in {reqs.path} is not valid: {failure.details['problem']}",
                          "Fix that requirement line and run again.")
    if kind is Failure.FIND_LINKS:
        return InputError(f"A --find-links location could not be read: {text}",
                          "Pass an existing directory of wheels or a reachable URL.")
    if kind is Failure.BUILD:
        culprit = failure.names[0] if failure.names else "an sdist"
        return NativeSdistError(
            f"Building {culprit} from its sdist failed ({text[:400]}); fcslim builds only pure-Python "
            "sdists that need nothing beyond their own source.",
            f"Use a version of {culprit} that publishes a wheel for {profile.name}, or build a wheel for the "
            "target yourself and pass its directory with --find-links.",
        )
    if kind is Failure.UNKNOWN_PACKAGE:
        lines = [f"{n} (at {reqs.locate(n).where})" if reqs.locate(n) else f"{n} (a dependency)"
                 for n in failure.names]
        return UnknownPackageError(
            f"Unknown package {', '.join(lines)}: it is not on {ctx.sources.describe()}.",
            "Check the spelling against the index, or add the index that publishes it with "
            "--index-url/--extra-index-url or a --find-links directory.",
        )
    if kind is Failure.NO_WHEEL:
        name = failure.names[0]
        files, unreadable = index_files(name, ctx.sources, ctx.timeout)
        line = reqs.locate(name)
        return diagnose_no_wheel(
            name, profile, files,
            wanted=line.requirement.specifier if line and line.requirement.specifier else None,
            where=line.where if line else None, unreadable=unreadable,
            uv_platform=ctx.platform.name, allow_pure_sdist=ctx.allow_pure_sdist,
        )
    if kind is Failure.CONFLICT:
        names = conflict_names(text, reqs)
        places = [line.where for n in names for line in reqs.locate_all(n)]
        return ConflictError(
            f"The requirements conflict for {profile.name}: {conflict_explanation(text)}"
            + (f" (see {', '.join(places)})" if places else ""),
            "Relax or remove one of the conflicting pins so a single version can satisfy all of them.",
        )
    return ResolutionError(
        f"Installing for {profile.name} failed: {text or 'uv exited with status ' + str(returncode)}",
        "Fix the cause named above and run again.",
    )


def conflict_names(text: str, reqs: RequirementsFile) -> list[str]:
    """Names in uv's explanation that the requirement file mentions."""
    found = []
    for match in re.finditer(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:==|>=|<=|!=|~=|>|<)", text):
        name = canonicalize_name(match.group(1))
        if name not in found and reqs.locate(name):
            found.append(name)
    return found
