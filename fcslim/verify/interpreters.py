"""Finding a host interpreter of exactly the target's Python version.

Import checks and bytecode compilation need the target's Python (its bytecode
magic number and cache tag change with every minor version).  The order is:

1. the interpreter the user named (``--python PATH_OR_NAME``);
2. ``$FCSLIM_PYTHON<major><minor>`` (for example ``FCSLIM_PYTHON310``), a
   path the environment can set once;
3. names on ``PATH``: ``python3.10``, then ``python3``, then ``python``; every
   copy of each name on PATH is tried, so a version-manager shim that refuses
   to run does not hide a real interpreter later on PATH.  A pyenv shim is
   read, not run: it names its ``PYENV_ROOT``, and the interpreters of that
   version under ``PYENV_ROOT/versions`` are tried in its place;
4. the shims themselves, and ``pyenv prefix`` when pyenv itself is on PATH and
   knows that version: only when nothing before fits, because each start of
   pyenv's bash costs a tenth of a second or more of CPU, taken from the uv
   install the probes run beside on a cold build.

Every candidate is *run* to read its version and architecture: a file name
proves nothing (the candidates of a tier are run at once; the first in this
order that fits is taken).  No install location is hard-coded.  A clean root's ``python3`` is
probed once per root (:func:`root_python_version`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fcslim.cache.location import cache_subdir
from fcslim.core.errors import FcslimError, InputError
from fcslim.core.files import atomic_write
from fcslim.verify import rootfs

_PROBE = (
    "import json, platform, sys, sysconfig;"
    "print(json.dumps({'version': list(sys.version_info[:3]),"
    " 'implementation': sys.implementation.name,"
    " 'cache_tag': sys.implementation.cache_tag,"
    " 'machine': platform.machine(),"
    " 'soabi': sysconfig.get_config_var('SOABI') or '',"
    " 'executable': sys.executable}))"
)


class InterpreterError(InputError):
    """The interpreter the user named is missing or is not the target's Python."""


@dataclass(frozen=True)
class Interpreter:
    """A host interpreter that was run and answered."""

    path: str
    version: tuple[int, int, int]
    implementation: str
    cache_tag: str
    machine: str
    soabi: str

    @property
    def minor_version(self) -> tuple[int, int]:
        return (self.version[0], self.version[1])

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "version": ".".join(str(v) for v in self.version),
            "cache_tag": self.cache_tag,
            "machine": self.machine,
        }


_PROBE_CACHE = "probes-v1.json"
_PROBES_AT_ONCE = 4
_REMEMBERING = threading.Lock()


def _probe_key(executable: str) -> str | None:
    """The cache key of a candidate: its absolute path, modification time and
    size (a reinstalled or upgraded interpreter is probed again)."""
    path = executable if os.sep in executable else shutil.which(executable)
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}"


def _probe_cache() -> Path:
    return cache_subdir("interpreters") / _PROBE_CACHE


def _load_probes() -> dict[str, dict]:
    try:
        data = json.loads(_probe_cache().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_probe(key: str) -> dict | None:
    """What :func:`remember_probe` kept under ``key``, if anything."""
    found = _load_probes().get(key)
    return found if isinstance(found, dict) else None


def remember_probe(key: str, data: dict) -> None:
    """Keep a probe's answer (an interpreter's, a clean root's) under ``key``."""
    with _REMEMBERING:  # probes run in threads: one read-modify-write at a time
        probes = _load_probes()
        probes[key] = data
        try:
            atomic_write(_probe_cache(), json.dumps(probes, sort_keys=True), role="interpreter probe cache",
                         durable=False)
        except FcslimError:
            pass  # a cache that cannot be written costs the next run one probe, nothing else


def _run_probe(executable: str, timeout: float) -> dict | None:
    try:
        proc = subprocess.run(
            [executable, "-S", "-c", _PROBE],
            capture_output=True, text=True, timeout=timeout,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return data if isinstance(data, dict) else None


def probe(executable: str, timeout: float = 30) -> Interpreter | None:
    """Run ``executable`` and read its version, or None when it does not run.

    An answer is remembered by path, modification time and size (each launch
    through a version manager's shim costs a tenth of a second or more), and
    the interpreter is named by the executable it reports, so later runs skip
    the shim too."""
    key = _probe_key(executable)
    data = _load_probes().get(key) if key else None
    if not isinstance(data, dict) or not os.path.exists(str(data.get("executable") or "")):
        data = _run_probe(executable, timeout)
        if data is None:
            return None
        if key:
            remember_probe(key, data)
    real = str(data.get("executable") or "")
    return Interpreter(
        path=real if os.path.isabs(real) else (str(Path(executable).absolute()) if os.sep in executable
                                                else executable),
        version=tuple(data["version"]),  # type: ignore[arg-type]
        implementation=data["implementation"],
        cache_tag=data["cache_tag"] or "",
        machine=data["machine"],
        soabi=data["soabi"],
    )


def _all_on_path(name: str) -> list[str]:
    found = []
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry:
            continue
        candidate = Path(entry) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            text = str(candidate)
            if text not in found:
                found.append(text)
    return found


def _pyenv_candidates(version: str) -> list[str]:
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return []
    try:
        listing = subprocess.run([pyenv, "versions", "--bare"], capture_output=True,
                                 text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    out = []
    for line in listing.stdout.split():
        if line == version or line.startswith(version + "."):
            try:
                prefix = subprocess.run([pyenv, "prefix", line], capture_output=True,
                                        text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                continue
            if prefix:
                out.append(str(Path(prefix) / "bin" / f"python{version}"))
    return out


def _matches(interp: Interpreter, profile) -> bool:
    return (
        interp.implementation == "cpython"
        and interp.minor_version == tuple(profile.python)
        and interp.machine == profile.arch
    )


def _pyenv_root_of_shim(path: str) -> Path | None:
    """The ``PYENV_ROOT`` a pyenv shim runs under, read from the shim (a short
    bash script that exports it and execs ``pyenv exec``), else None."""
    try:
        if os.path.getsize(path) > 4096:
            return None
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    found = re.search(r'^export PYENV_ROOT="([^"$`]+)"$', text, re.M)
    if not text.startswith("#!") or found is None or 'pyenv" exec ' not in text:
        return None
    return Path(found.group(1))


def _pyenv_interpreters(root: Path, version: str, name: str) -> list[str]:
    """``name`` in every ``root/versions/<v>`` directory named for ``version``
    (``3.10``, ``3.10.13``), newest first."""
    try:
        entries = os.listdir(root / "versions")
    except OSError:
        return []
    wanted = [e for e in entries if e == version or e.startswith(version + ".")]
    wanted.sort(key=lambda e: [int(p) if p.isdigit() else -1 for p in e.split(".")], reverse=True)
    found = [root / "versions" / e / "bin" / name for e in wanted]
    return [str(p) for p in found if p.is_file() and os.access(p, os.X_OK)]


def candidate_tiers(profile) -> Iterator[list[str]]:
    """Executables to try for ``profile`` (explicit option excluded): the
    cheap ones, then (worked out only if asked for) the ones that start a
    version manager (module docstring)."""
    version = profile.python_version
    first: list[str] = []
    last: list[str] = []
    env_name = f"FCSLIM_PYTHON{profile.python[0]}{profile.python[1]}"
    if os.environ.get(env_name):
        first.append(os.environ[env_name])
    roots: list[Path] = []
    for name in (f"python{version}", f"python{profile.python[0]}", "python"):
        for path in _all_on_path(name):
            root = _pyenv_root_of_shim(path)
            if root is None:
                first.append(path)
                continue
            first.extend(_pyenv_interpreters(root, version, name))
            last.append(path)
            roots.append(root)
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    for root in dict.fromkeys(roots):
        first.extend(_pyenv_interpreters(root, version, f"python{version}"))
    first = list(dict.fromkeys(first))
    yield first
    last.extend(_pyenv_candidates(version))
    yield [c for c in dict.fromkeys(last) if c not in first]


def candidates(profile) -> list[str]:
    """Executables to try for ``profile``, in order (explicit option excluded)."""
    return [c for tier in candidate_tiers(profile) for c in tier]


def find_python(profile, explicit: str | None = None) -> Interpreter | None:
    """A host interpreter of exactly ``profile``'s CPython minor version and
    architecture, or None.

    An ``explicit`` interpreter that does not run or is the wrong version is an
    error (the user asked for it by name); the automatic search just returns
    None when nothing fits.
    """
    if explicit:
        path = explicit if os.sep in explicit else (shutil.which(explicit) or explicit)
        interp = probe(path)
        if interp is None:
            raise InterpreterError(
                f"The interpreter given with --python ({explicit}) does not run.",
                "Pass the path of a working CPython interpreter of the target's version.",
            )
        if not _matches(interp, profile):
            got = ".".join(str(v) for v in interp.version)
            raise InterpreterError(
                f"The interpreter given with --python ({explicit}) is {interp.implementation} {got} "
                f"on {interp.machine}; runtime {profile.name} needs CPython {profile.python_version} "
                f"on {profile.arch}.",
                f"Pass a python{profile.python_version} interpreter, or leave --python out.",
            )
        return interp
    # Real interpreters answer in a few hundredths of a second and the first
    # usually fits: they are run one after another, in order, until one does.
    tiers = candidate_tiers(profile)
    found = next((interp for interp in map(probe, next(tiers))
                  if interp is not None and _matches(interp, profile)), None)
    if found is not None:
        return found
    # A version manager's shims are launched at once (each takes a quarter of
    # a second to answer, and the one that fits often comes last); the first
    # that fits, in the order of the module docstring, wins.
    for names in tiers:
        with ThreadPoolExecutor(_PROBES_AT_ONCE, thread_name_prefix="fcslim-probe") as pool:
            answers = [pool.submit(probe, name) for name in names]
            found = next((interp for interp in (answer.result() for answer in answers)
                          if interp is not None and _matches(interp, profile)), None)
            pool.shutdown(wait=False, cancel_futures=True)
        if found is not None:
            return found
    return None


def host_machine() -> str:
    return platform.machine()


def root_python_version(root: Path) -> str:
    """The root's ``python3`` version ("3.9"), remembered per root (keyed on
    its completion marker, rewritten whenever the root is built again)."""
    try:
        marker = os.stat(Path(root) / ".fcslim-root-complete")
        key = f"root:{Path(root).resolve()}|{marker.st_mtime_ns}"
    except OSError:
        key = None
    known = remembered_probe(key) if key else None
    if known and isinstance(known.get("version"), str):
        return known["version"]
    probe = rootfs.run_in_root(root, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    found = probe.stdout.strip() if probe.returncode == 0 else ""
    if found and key:
        remember_probe(key, {"version": found})
    return found
