"""Import checks: does every top-level module of a bundle import on the target?

Where the check runs, best first:

* a clean Debian root of the profile's release (profiles whose system image is
  a ``debianNN-minbase`` or whose provider is ``generic``), built and cached by
  :mod:`fcslim.verify.rootfs`, with the bundle bind-mounted read-only at the
  runtime's code root and the runtime's search paths;
* else (FC python3.9, Lambda) a root assembled by :mod:`fcslim.verify.assembled`:
  the reachable Debian release with the target's CPython, with only the
  libraries the runtime's image lists, so the host's libraries are never seen;
* else a host interpreter of exactly the profile's CPython version (found by
  :mod:`fcslim.verify.interpreters`), with the bundle first on ``sys.path`` and its
  library directories on ``LD_LIBRARY_PATH``: this proves the Python level
  (every module, every extension's symbols against this host's libraries) but
  not the target's system libraries, and the result says so;
* else nothing, and the result says why (``checked`` is False).

One child process imports the modules one after the other and reports each
result as a JSON line; an import that kills the interpreter (a segfault in an
extension) is recorded against that module and the check goes on in a new
process with the modules that were left.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from fcslim.verify import interpreters

from fcslim.verify import rootfs
from fcslim.verify.modules import top_level_modules  # noqa: F401  (part of this module's API)

MARK = "\x1efcslim-verify "
# Roots assembled for profiles without a Debian root of their own (the offline
# test layer turns them off: assembling one may debootstrap a release).
ASSEMBLED_ROOTS = True

# Runs in the target's interpreter: keep it valid for CPython 3.6+.
CHILD_SCRIPT = r'''
import importlib, json, os, sys
MARK = "\x1efcslim-verify "
paths = json.loads(sys.argv[1])
sys.path[0:0] = paths
out = sys.__stdout__
def say(obj):
    out.write(MARK + json.dumps(obj) + "\n")
    out.flush()
say({"python": ".".join(str(v) for v in sys.version_info[:3])})
trace = len(sys.argv) > 3 and sys.argv[3] == "trace" and hasattr(sys, "addaudithook")
opened = set()
if trace:
    def _hook(event, args):
        if event == "open" and args and isinstance(args[0], str):
            opened.add(args[0])
    sys.addaudithook(_hook)
for name in json.loads(sys.argv[2]):
    say({"start": name})
    try:
        importlib.import_module(name)
        say({"module": name, "ok": True})
    except BaseException as exc:
        text = (type(exc).__name__ + ": " + str(exc)).strip()
        say({"module": name, "ok": False, "error": text[:800]})
if trace:
    for module in list(sys.modules.values()):
        where = getattr(module, "__file__", None)
        if isinstance(where, str):
            opened.add(where)
    roots = tuple(os.path.join(p, "") for p in paths)
    say({"touched": sorted(os.path.relpath(f, p) for f in opened for p in roots
                           if os.path.abspath(f).startswith(p))})
say({"done": True})
out.flush()
os._exit(0)
'''


@dataclass(frozen=True)
class ModuleCheck:
    name: str
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict:
        d = {"ok": self.ok}
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class VerifyResult:
    """The outcome of one import check.

    ``checked`` is False when no suitable place to import existed; ``reason``
    then says why.  ``where`` names the root or interpreter used; ``scope`` is
    "target-root" (Python and system libraries of the target) or
    "host-python" (the target's Python version, the host's libraries).
    """

    checked: bool
    where: str = ""
    scope: str = ""
    reason: str | None = None
    python: str | None = None
    modules: dict[str, ModuleCheck] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)  # files the imports opened (traced checks only)

    @property
    def failed(self) -> list[str]:
        return sorted(n for n, m in self.modules.items() if not m.ok)

    @property
    def passed(self) -> list[str]:
        return sorted(n for n, m in self.modules.items() if m.ok)

    @property
    def ok(self) -> bool:
        return self.checked and not self.failed

    def to_dict(self) -> dict:
        return {
            "checked": self.checked,
            "where": self.where,
            "scope": self.scope,
            "reason": self.reason,
            "python": self.python,
            "modules": {n: m.to_dict() for n, m in sorted(self.modules.items())},
            "failed": self.failed,
        }


# -- where to import ----------------------------------------------------------

def _parse_lines(stdout: str) -> list[dict]:
    out = []
    for line in stdout.split("\n"):  # not splitlines(): it splits at the \x1e mark too
        idx = line.find(MARK)
        if idx == -1:
            continue
        try:
            out.append(json.loads(line[idx + len(MARK):]))
        except ValueError:
            continue
    return out


class Verifier:
    """A place to run import checks, set up once and used many times (slim's
    rollback bisection calls :meth:`check` repeatedly)."""

    scope = ""

    def __init__(self, profile):
        self.profile = profile
        self.where = ""
        self.python: str | None = None
        self.tracing = False

    def _run(self, bundle: Path, modules: Sequence[str]):  # -> (returncode, stdout, stderr)
        raise NotImplementedError

    def child_args(self) -> list[str]:
        """Extra arguments of the check process (``trace`` while tracing)."""
        return ["trace"] if self.tracing else []

    def check(self, bundle: Path, modules: Iterable[str], *, trace: bool = False) -> VerifyResult:
        """Import each of ``modules`` from ``bundle``; a crash costs only the
        module that crashed.  With ``trace``, the result also lists the bundle
        files the imports opened (relative paths; CPython 3.8+ audit hooks)."""
        modules = list(dict.fromkeys(modules))
        pending = list(modules)
        results: dict[str, ModuleCheck] = {}
        touched: set[str] = set()
        self.tracing = trace
        while pending:
            try:
                code, stdout, stderr = self._run(Path(bundle), pending)
            except rootfs.RootfsError as exc:
                code, stdout, stderr = -1, getattr(exc, "partial_stdout", ""), str(exc)
            current = None
            for event in _parse_lines(stdout):
                if "python" in event:
                    self.python = event["python"]
                elif "start" in event:
                    current = event["start"]
                elif "module" in event:
                    results[event["module"]] = ModuleCheck(event["module"], event["ok"], event.get("error"))
                    current = None
                elif "touched" in event:
                    touched.update(str(p) for p in event["touched"])
            done = [m for m in pending if m in results]
            if current is None and len(done) == len(pending):
                break
            if current is None:
                # The child died before importing anything it reported on.
                tail = " ".join((stderr or "").strip().splitlines()[-3:])
                for m in pending:
                    if m not in results:
                        results[m] = ModuleCheck(m, False, f"check process failed (exit {code}): {tail}"[:800])
                break
            tail = " ".join((stderr or "").strip().splitlines()[-2:])
            how = f"signal {-code}" if code < 0 else f"exit {code}"
            results[current] = ModuleCheck(current, False, f"importing it killed the interpreter ({how}) {tail}".strip()[:800])
            pending = [m for m in pending if m not in results]
        self.tracing = False
        return VerifyResult(True, self.where, self.scope, self._caveat(), self.python,
                            {m: results[m] for m in modules if m in results}, sorted(touched))

    def _caveat(self) -> str | None:
        return None


class RootVerifier(Verifier):
    scope = "target-root"

    def __init__(self, profile, root: Path, where: str | None = None, caveat: str | None = None):
        super().__init__(profile)
        self.root = Path(root)
        self.where = where or f"clean Debian {profile.debian.release} root ({self.root.name})"
        self.caveat = caveat

    def _caveat(self) -> str | None:
        return self.caveat

    def _run(self, bundle: Path, modules: Sequence[str]):
        code_root = self.profile.code_root
        argv = ["python3", "-B", "-s", "-c", CHILD_SCRIPT, json.dumps([code_root]), json.dumps(list(modules)),
                *self.child_args()]
        env = dict(rootfs.runtime_env(self.profile))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        result = rootfs.run_in_root(self.root, argv, binds={str(Path(bundle).resolve()): code_root}, env=env)
        return result.returncode, result.stdout, result.stderr


class HostVerifier(Verifier):
    scope = "host-python"

    def __init__(self, profile, interp: interpreters.Interpreter):
        super().__init__(profile)
        self.interp = interp
        self.where = f"host interpreter {interp.path} ({'.'.join(map(str, interp.version))})"

    def library_path(self, bundle: Path) -> str:
        out = []
        code_root = self.profile.code_root.rstrip("/")
        for entry in self.profile.library_path:
            if entry == code_root or entry.startswith(code_root + "/"):
                out.append(str(bundle) + entry[len(code_root):])
        return ":".join(out)

    def _run(self, bundle: Path, modules: Sequence[str]):
        bundle = Path(bundle).resolve()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LD_LIBRARY_PATH": self.library_path(bundle),
        }
        argv = [self.interp.path, "-S", "-E", "-B", "-s", "-c", CHILD_SCRIPT,
                json.dumps([str(bundle)]), json.dumps(list(modules)), *self.child_args()]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, cwd=str(bundle))
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return -9, out, "timed out after 900s"
        return proc.returncode, proc.stdout, proc.stderr

    def _caveat(self) -> str | None:
        return ("checked with the host's system libraries, not the target's: Python-level imports and "
                "the target's Python version are proven, the target's system libraries are not")


@dataclass(frozen=True)
class NoVerifier:
    """Why no check is possible."""

    reason: str


def _root_python_version(root: Path) -> str:
    """The root's ``python3`` version ("3.9"), remembered per root (keyed on
    its completion marker, rewritten whenever the root is built again)."""
    try:
        marker = os.stat(Path(root) / ".fcslim-root-complete")
        key = f"root:{Path(root).resolve()}|{marker.st_mtime_ns}"
    except OSError:
        key = None
    known = interpreters.remembered_probe(key) if key else None
    if known and isinstance(known.get("version"), str):
        return known["version"]
    probe = rootfs.run_in_root(root, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    found = probe.stdout.strip() if probe.returncode == 0 else ""
    if found and key:
        interpreters.remember_probe(key, {"version": found})
    return found


def make_verifier(profile, python: str | None = None) -> Verifier | NoVerifier:
    """The best place to check imports for ``profile``, or why there is none.

    ``python`` forces a host interpreter (it must be the target's version).
    """
    reasons = []
    if python is None and rootfs.uses_clean_root(profile):
        support = rootfs.rootfs_support()
        if support is None:
            try:
                root = rootfs.ensure_root(profile.debian.release, profile.debian_arch, mirror=profile.debian.mirror)
            except rootfs.RootfsError as exc:
                reasons.append(str(exc))
            else:
                verifier = RootVerifier(profile, root)
                found = _root_python_version(root)
                if found == profile.python_version:
                    return verifier
                reasons.append(f"the clean {profile.debian.release} root has Python {found or '?'}, "
                               f"not {profile.python_version}")
        else:
            reasons.append(support)
    elif python is None and ASSEMBLED_ROOTS and rootfs.rootfs_support() is None:
        # Imported here: it reads ELF files and the system-image policy, 50-100 ms
        # to import, which a check in a clean root or with a host interpreter never needs.
        from fcslim.verify.assembled import ensure_assembled_root

        try:
            assembled = ensure_assembled_root(profile)
        except rootfs.RootfsError as exc:
            reasons.append(str(exc))
        else:
            caveat = (f"the assembled root lacks {', '.join(assembled.absent)}, which {profile.system_image} has: "
                      "an import that fails for one of them is not proven" if assembled.absent else None)
            verifier = RootVerifier(profile, assembled.path, assembled.describe(profile), caveat)
            verifier.scope = "assembled-root"
            return verifier
    interp = interpreters.find_python(profile, explicit=python)
    if interp is not None:
        if profile.arch != platform.machine():
            reasons.append(f"the host is {platform.machine()}, the target {profile.arch}")
        else:
            return HostVerifier(profile, interp)
    else:
        reasons.append(f"no CPython {profile.python_version} interpreter for {profile.arch} on this host (tried --python, "
                       f"$FCSLIM_PYTHON{profile.python[0]}{profile.python[1]}, python{profile.python_version} "
                       "and python3 on PATH, pyenv)")
    return NoVerifier("; ".join(reasons))


def verify_imports(root: Path, profile, python: str | None = None,
                   modules: Sequence[str] | None = None, verifier: Verifier | NoVerifier | None = None
                   ) -> VerifyResult:
    """Import every top-level module of the bundle at ``root`` on ``profile``'s
    target (see the module doc for where, or give ``make_verifier``'s answer
    as ``verifier``); never raises for a failed import, the result lists them."""
    if verifier is None:
        verifier = make_verifier(profile, python)
    if isinstance(verifier, NoVerifier):
        return VerifyResult(False, reason=f"not verified: {verifier.reason}")
    names = list(modules) if modules is not None else top_level_modules(Path(root))
    return verifier.check(Path(root), names)
