"""Choosing a runtime from uv/pip-style ``--python-version``/``--python-platform``.

``--python-version 3.12`` alone means the provider's own runtime of that
Python (``fc-python3.12``); a platform narrows by machine and glibc
(``aarch64-manylinux_2_34`` → ``aws-python3.12-arm64``).  With ``--runtime``
the two are checked against it, so a CI line cannot silently build for
another Python than it says.
"""

from __future__ import annotations

import re

from fcslim.core.errors import InputError

from .profile import Profile, builtin_profiles, load_profile

DEFAULT_RUNTIME = "fc-python3.10"
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_PLATFORM = re.compile(r"^(?P<arch>[a-z0-9_]+?)(?:-(?:unknown-linux-gnu|manylinux_?(?P<major>\d+)_(?P<minor>\d+)|"
                       r"manylinux2014|linux))?$")


def parse_platform(text: str) -> tuple[str | None, tuple[int, int] | None]:
    """``(machine, glibc)`` from ``x86_64-manylinux_2_28``, ``aarch64``,
    ``x86_64-unknown-linux-gnu``, ``linux`` (any machine)…"""
    value = text.strip().lower()
    if value in ("linux", "manylinux"):
        return None, None
    match = _PLATFORM.match(value)
    arch = _MACHINES.get(match.group("arch")) if match else None
    if match is None or arch is None:
        raise InputError(f"--python-platform {text!r} is not a Linux platform fcslim targets.",
                         "Use e.g. x86_64-manylinux_2_28 or aarch64-manylinux_2_34 (uv's spelling), or pick a "
                         "runtime with --runtime (see `fcslim runtimes`).")
    if match.group("major"):
        return arch, (int(match.group("major")), int(match.group("minor")))
    if value.endswith("manylinux2014"):
        return arch, (2, 17)
    return arch, None


def _matches(profile: Profile, python_version: str | None, platform: str | None) -> bool:
    if python_version and not (profile.python_full_version == python_version
                               or profile.python_version == ".".join(python_version.split(".")[:2])):
        return False
    if platform:
        arch, glibc = parse_platform(platform)
        if arch and profile.arch != arch:
            return False
        if glibc and profile.glibc != glibc:
            return False
    return True


def select_runtime(runtime: str | None, python_version: str | None, python_platform: str | None,
                   default: str | None = DEFAULT_RUNTIME) -> str | None:
    """The runtime to use: ``runtime`` (checked against the other two), or the
    one built-in runtime they describe, or ``default``."""
    if python_version and not re.match(r"^3\.\d+(\.\d+)?$", python_version):
        raise InputError(f"--python-version {python_version!r} is not a CPython 3 version.",
                         "Write it as 3.12 or 3.12.8.")
    if not python_version and not python_platform:
        return runtime or default
    described = " and ".join(f"{flag} {value}" for flag, value in (("--python-version", python_version),
                                                                    ("--python-platform", python_platform)) if value)
    if runtime:
        profile = load_profile(runtime)
        if not _matches(profile, python_version, python_platform):
            raise InputError(
                f"--runtime {profile.name} is CPython {profile.python_full_version} on {profile.arch} with glibc "
                f"{profile.glibc_version}, which contradicts {described}.",
                "Drop one of them: --runtime decides everything the target needs.")
        return runtime
    profiles = builtin_profiles()
    found = [p.name for p in profiles.values() if _matches(p, python_version, python_platform)]
    if len(found) == 1:
        return found[0]
    provider = (profiles[default].provider if default in profiles else "fc")
    own = [name for name in found if python_version and
           name == f"{provider}-python{'.'.join(python_version.split('.')[:2])}"]
    if own and (not python_platform or len(own) == 1):
        return own[0]
    if not found:
        raise InputError(f"No built-in runtime matches {described}.",
                         "See `fcslim runtimes` for the built-in ones, or pass a profile JSON file with --runtime.")
    raise InputError(f"{described} fits several runtimes: {', '.join(found)}.",
                     "Pick one with --runtime (-R).")
