"""The uv driver: which uv, which target options, one run.

uv resolves and installs for the target, not the host: ``--python-version``
and ``--python-platform`` make it judge markers, ``Requires-Python`` and wheel
tags for the profile.  Its ``--python-platform`` is a closed list of manylinux
targets (2_17, 2_28, 2_31 … 2_40 in uv 0.13); :func:`uv_platform` picks the
one to ask for and says whether it is the profile's own glibc.

What a uv binary says about itself (its version, its manylinux targets) is
asked once per binary and remembered by the binary's identity (real path,
device, inode, size, modification time) in the ``results`` cache: each probe
is a uv process (5-40 ms here), and an install used to start three uv
processes where one installs; what is not remembered yet is asked with both
questions at once.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Iterable

from fcslim.cache.keys import cache_key
from fcslim.cache.location import cache_subdir
from fcslim.cache.results import recall, remember
from fcslim.core.errors import FcslimError, InputError
from fcslim.target.profile import Profile

try:  # the uv wheel fcslim depends on ships its binary
    from uv import find_uv_bin
except ImportError:  # pragma: no cover - uv from PATH
    find_uv_bin = None


class EngineError(FcslimError):
    """uv is missing or failed in a way fcslim does not recognise (exit 1)."""


def uv_binary(explicit: str | None = None) -> str:
    """The uv executable: ``explicit``, the one the ``uv`` package ships, or PATH."""
    if explicit:
        return explicit
    if find_uv_bin is not None:
        try:
            return find_uv_bin()
        except FileNotFoundError:
            pass
    found = shutil.which("uv")
    if found:
        return found
    raise EngineError(
        "uv, fcslim's resolver, is not installed.",
        "Install it with `pip install uv` (it is a dependency of fcslim) and run again.",
    )


def _probe_key(uv: str, kind: str) -> str | None:
    """The key of what ``uv`` answered to probe ``kind``: its real path and file identity."""
    real = shutil.which(uv) or uv
    try:
        st = os.stat(real)
    except OSError:
        return None
    return cache_key(kind, os.path.realpath(real), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


_QUESTIONS = {"uv-version": ("--version",), "uv-platforms": ("pip", "compile", "--help")}


def _answer(kind: str, returncode: int, stdout: str) -> str | list[int] | None:
    if kind == "uv-version":
        return stdout.strip().split(" ")[1] if returncode == 0 and " " in stdout.strip() else None
    return sorted({int(m) for m in re.findall(r"x86_64-manylinux_2_(\d+)", stdout)}) or None


def _valid(kind: str, known: object) -> bool:
    if kind == "uv-version":
        return isinstance(known, str) and bool(known)
    return isinstance(known, list) and bool(known) and all(isinstance(m, int) for m in known)


def _about(uv: str) -> dict[str, object]:
    """What ``uv`` says about itself, by question (see :data:`_QUESTIONS`):
    remembered answers, and the others asked at once, one uv process each
    side by side (an install needs both; each is a uv start)."""
    answers: dict[str, object] = {}
    asking = {}
    for kind, args in _QUESTIONS.items():
        key = _probe_key(uv, kind)
        known = recall(kind, key) if key else None
        if _valid(kind, known):
            answers[kind] = known
            continue
        try:
            asking[kind] = key, subprocess.Popen([uv, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                                 text=True)
        except OSError:
            answers[kind] = None
    for kind, (key, proc) in asking.items():
        stdout, _ = proc.communicate()
        answers[kind] = _answer(kind, proc.returncode, stdout)
        if key and answers[kind] is not None:
            remember(kind, key, answers[kind])
    return answers


@functools.lru_cache(maxsize=4)
def uv_version(uv: str) -> str:
    version = _about(uv)["uv-version"]
    return version if isinstance(version, str) else "unknown"


@functools.lru_cache(maxsize=4)
def uv_manylinux_minors(uv: str) -> tuple[int, ...]:
    """glibc minors uv's ``--python-platform`` names (``x86_64-manylinux_2_NN``)."""
    minors = _about(uv)["uv-platforms"]
    if not isinstance(minors, list):
        return (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
    return tuple(minors)


@dataclass(frozen=True)
class UvPlatform:
    """The ``--python-platform`` uv is run with for a profile.

    ``exact`` when it is the profile's own glibc.  Otherwise uv knows no target
    for that glibc (2.24, 2.26): it is run for the next target up
    (``above``), and what it picks is checked against the profile's tags
    (:mod:`fcslim.resolve.glibc`); a profile newer than every target uv knows
    is run for the newest one, which only leaves out wheels for a glibc
    newer than any uv can name.
    """

    name: str
    glibc: tuple[int, int]
    exact: bool
    above: bool


def uv_platform(profile: Profile, uv: str | None = None) -> UvPlatform:
    minors = uv_manylinux_minors(uv_binary(uv))
    major, minor = profile.glibc
    if major != 2 or minor < minors[0]:
        raise InputError(
            f"Runtime {profile.name} has glibc {profile.glibc_version}, older than any manylinux "
            f"platform uv {uv_version(uv_binary(uv))} can target (manylinux_2_{minors[0]}).",
            "Use a profile with glibc 2.17 or newer.",
        )
    higher = [m for m in minors if m > minor]
    chosen = minor if minor in minors else (min(higher) if higher else max(minors))
    return UvPlatform(f"{profile.arch}-manylinux_2_{chosen}", (2, chosen), chosen == minor, chosen > minor)


def uv_python_platform(profile: Profile, uv: str | None = None) -> str:
    """uv's ``--python-platform`` for ``profile`` (see :class:`UvPlatform`)."""
    return uv_platform(profile, uv).name


def uv_env(cache_dir: os.PathLike | None, timeout: float) -> dict[str, str]:
    """uv's environment: fcslim's cache, no interpreter downloads, no colour."""
    env = dict(os.environ)
    if cache_dir:
        env["UV_CACHE_DIR"] = str(cache_dir)
    elif not env.get("UV_CACHE_DIR"):
        env["UV_CACHE_DIR"] = str(cache_subdir("uv"))
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    env["NO_COLOR"] = "1"
    env.setdefault("UV_HTTP_TIMEOUT", str(int(max(timeout, 1) * 2)))
    return env


def target_args(profile: Profile, platform: UvPlatform) -> list[str]:
    return [
        "--python-version", profile.python_full_version,
        "--python-platform", platform.name,
        "--no-python-downloads",
        "--no-config",
    ]


def build_args(no_binary: Iterable[str]) -> list[str]:
    args = ["--only-binary", ":all:"]
    for name in sorted(set(no_binary)):
        args += ["--no-binary", name]
    return args


@dataclass
class UvRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_uv(argv: list[str], env: dict[str, str], started: Callable[[], None] | None = None) -> UvRun:
    """Run uv to the end.  ``started`` is called once uv runs, before it is
    waited for (work this process can do meanwhile, e.g. in a thread)."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    except OSError as exc:
        raise EngineError(f"Could not run uv ({argv[0]}): {exc.strerror}.",
                          "Reinstall uv (`pip install uv`) and run again.") from exc
    with proc:
        try:
            if started is not None:
                started()
            stdout, stderr = proc.communicate()
        except BaseException:  # as subprocess.run: uv does not outlive an interrupted build
            proc.kill()
            raise
    return UvRun(argv, proc.returncode, stdout, stderr)
