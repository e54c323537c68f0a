"""A bundle that cannot import is not a success.

After slimming and verification, a top-level module of a distribution the
user asked for (a requirement line, not a dependency of one) that fails to
import on the target fails the build with exit 8, naming the module, its
distribution and the error, unless the user allows it by module or
distribution name (``--allow-import-failure``).  Failures of modules of
dependencies are warnings, and so is an extra module of a requested
distribution that only lacks a Python package nobody installed (duckdb 2.0's
``adbc_driver_duckdb`` wants ``adbc_driver_manager``) while another of its
modules imports: that is an optional integration, the same on every machine.  When the installed release is older than the
newest one on the index and that newest one has no wheel (pyvips 2.1.0, the
last wheel, cannot import on Python 3; newer releases are sdists only), the
message says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename,
                             parse_wheel_filename)
from packaging.version import Version

from fcslim.core.errors import VerifyError
from fcslim.resolve.index import Sources, index_files


@dataclass(frozen=True)
class ImportFailure:
    module: str
    error: str
    distribution: str | None  # None when no installed distribution owns the module
    version: str | None


@dataclass(frozen=True)
class OwnedModule:
    distribution: str
    version: str


def module_owners(distributions: Iterable[tuple[str, str, Iterable[str]]]) -> dict[str, OwnedModule]:
    """Top-level module name -> owning distribution, from (name, version,
    installed file paths) of each distribution."""
    owners: dict[str, OwnedModule] = {}
    for name, version, files in distributions:
        for path in files:
            first = path.split("/", 1)[0]
            if first.endswith((".dist-info", ".data")) or first.startswith(".."):
                continue
            module = first[:-3] if first.endswith(".py") else first.split(".", 1)[0]
            owners.setdefault(module, OwnedModule(name, version))
    return owners


def requested_names(requirements: Iterable[str]) -> set[str]:
    names = set()
    for line in requirements:
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    return names


def newer_without_wheel(name: str, installed: str, sources: Sources) -> str | None:
    """The newest version of ``name`` on the index when it is newer than
    ``installed`` and published as an sdist only; else None."""
    try:
        files, _unreadable = index_files(name, sources, timeout=10.0)
    except OSError:
        return None
    wheels: set[Version] = set()
    sdists: set[Version] = set()
    for item in files:
        if item.yanked:
            continue
        try:
            if item.is_wheel:
                wheels.add(parse_wheel_filename(item.filename)[1])
            else:
                sdists.add(parse_sdist_filename(item.filename)[1])
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
    releases = {v for v in wheels | sdists if not v.is_prerelease}
    if not releases:
        return None
    newest = max(releases)
    if newest > Version(installed) and newest not in wheels:
        return str(newest)
    return None


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


def optional_python_need(module: str, error: str, failures: Mapping[str, str],
                         owners: Mapping[str, OwnedModule]) -> str | None:
    """The Python package ``module`` lacks when that is all that is wrong
    with it: no installed distribution provides it, and another module of the
    same distribution imports.  None otherwise."""
    match = _MISSING_MODULE.search(error)
    owner = owners.get(module)
    if match is None or owner is None:
        return None
    missing = match.group(1).split(".")[0]
    if missing in owners:
        return None  # installed, yet it fails: not an optional need
    siblings = [m for m, o in owners.items() if o.distribution == owner.distribution and m != module
                and m.isidentifier() and not m.startswith("_")]
    return missing if any(m not in failures for m in siblings) else None


def gate_imports(failures: Mapping[str, str], owners: Mapping[str, OwnedModule], requested: set[str],
                 allowed: Iterable[str], profile_name: str, where: str, sources: Sources | None = None) -> list[str]:
    """Raise :class:`VerifyError` (exit 8) for a failing module of a requested
    distribution that is not allowed; return warnings for the other failures."""
    allow = {canonicalize_name(a) for a in allowed} | set(allowed)
    blocking: list[ImportFailure] = []
    warnings: list[str] = []
    for module, error in sorted(failures.items()):
        owner = owners.get(module)
        failure = ImportFailure(module, error, owner.distribution if owner else None,
                                owner.version if owner else None)
        dist = canonicalize_name(failure.distribution) if failure.distribution else None
        if module in allow or (dist and dist in allow):
            warnings.append(f"{module} fails to import on {profile_name} ({where}), allowed by "
                            f"--allow-import-failure: {error}")
        elif dist and dist in requested and optional_python_need(module, error, failures, owners):
            missing = optional_python_need(module, error, failures, owners)
            warnings.append(f"{module} (from {failure.distribution}) needs the Python package {missing}, which is "
                            f"not installed: an optional part of {failure.distribution}; add {missing} to the "
                            "requirements to use it")
        elif dist and dist in requested:
            blocking.append(failure)
        else:
            warnings.append(f"{module} (from {failure.distribution or 'no distribution'}) fails to import on "
                            f"{profile_name} ({where}): {error}")
    if not blocking:
        return warnings
    parts = []
    for failure in blocking:
        text = f"{failure.module} (from {failure.distribution} {failure.version}): {failure.error}"
        newer = (newer_without_wheel(failure.distribution, failure.version, sources)
                 if sources is not None and failure.distribution and failure.version else None)
        if newer:
            text += (f" [{failure.distribution} {failure.version} is the newest release with a wheel; {newer} "
                     "exists only as an sdist, which fcslim does not build for native code]")
        parts.append(text)
    raise VerifyError(
        f"{len(blocking)} module(s) of the requirements cannot be imported on {profile_name} ({where}): "
        + "; ".join(parts) + ".",
        "Pin a release that works on the target (or one with a wheel for it), provide what the error names, "
        "or let the build pass anyway with --allow-import-failure " + blocking[0].module + ".",
    )
