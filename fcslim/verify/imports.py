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
process with the modules that were left.  A verifier's checks share a
bytecode cache outside the bundle, which a warmer fills: started by the build
before the first check (:meth:`Verifier.warm_early`), or beside a later check
when a CPU is spare (:mod:`fcslim.verify.warmup`).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from fcslim.verify import interpreters, rootfs, warmup
from fcslim.verify.modules import top_level_modules  # noqa: F401  (part of this module's API)
from fcslim.verify.outcome import ModuleCheck, VerifyResult  # noqa: F401  (part of this module's API)

MARK = "\x1efcslim-verify "
# Roots assembled for profiles without a Debian root of their own (the offline
# test layer turns them off: assembling one may debootstrap a release).
ASSEMBLED_ROOTS = True

# The check's process (run as ``python -c CHILD_SCRIPT PATHS_JSON MODULES_JSON [OPTION...]``).
CHILD_SCRIPT = (Path(__file__).with_name("check_child.py")).read_text(encoding="utf-8")


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
    warm_up = True  # checks share a bytecode cache outside the bundle (fcslim.verify.warmup)
    warmer: bool | None = None  # a warmer beside each check; None: when a CPU is spare for it

    def __init__(self, profile):
        self.profile = profile
        self.where = ""
        self.python: str | None = None
        self.tracing = False
        self.pycache: warmup.PycachePrefix | None = None
        self.checks = 0  # finished, so far
        self.early: warmup.Warmer | None = None  # started before the first check (warm_early)

    def use_warmer(self) -> bool:
        return warmup.spare_cpu() if self.warmer is None else self.warmer

    def warm_cache(self) -> warmup.PycachePrefix | None:
        """The bytecode cache the next check reads and writes and its warmer
        fills, made and seeded with the interpreter's own pycs on first use;
        None without warm-up: turned off, a Python before 3.8, seeding
        failed, or a first check with neither a warmer nor a cache made
        ahead (what it writes pays back only in later checks: it runs as it
        always did).  A traced check counts a pyc it read from the cache as
        its source's opening."""
        if not self.warm_up or not warmup.supported(self.target_python()):
            return None
        if self.pycache is None and not self.checks and not self.use_warmer():
            return None
        return self._made_cache()

    def _made_cache(self) -> warmup.PycachePrefix | None:
        if self.pycache is None:
            self.pycache = warmup.PycachePrefix()
            if self._seed(self.pycache) != 0:
                self.pycache.remove()
                self.pycache, self.warm_up = None, False
        return self.pycache

    def warm_early(self, bundle: Path, modules: Sequence[str]) -> bool:
        """Start the first check's warmer now, before the check: while the
        build scans ELF files and plans the slim on one core, the other is
        idle.  It compiles what importing ``modules`` from ``bundle`` will
        (the bundle only loses files before the check, and a pyc of a file
        removed since is never read), then beside the first check; True if started."""
        cache = self.prepare_warm_up() if self.early is None and not self.checks else None
        if cache is None:
            return False
        argv, env, cwd = self._warmer_command(Path(bundle), list(modules), cache)  # type: ignore[misc]
        self.early = warmup.Warmer.start(argv, env, cwd, idle_now=False)
        return self.early is not None

    def prepare_warm_up(self) -> warmup.PycachePrefix | None:
        """The bytecode cache, made and seeded now if a warmer could use it
        (a build's set-up, while uv installs: then warm_early starts at once)."""
        if (not self.warm_up or not warmup.supported(self.target_python())
                or type(self)._warmer_command is Verifier._warmer_command):
            return None
        return self._made_cache()

    def stop_early(self) -> None:
        """Stop a warmer :meth:`warm_early` started that no check took over
        (the build ended before its check)."""
        early, self.early = self.early, None
        if early is not None:
            early.stop()

    def warmer_beside(self, command: tuple[list[str], dict | None, str | None] | None) -> warmup.Warmer | None:
        """The warmer of the check about to run: the early one if there is
        one (as it runs: at normal priority it cost the build less than at
        idle priority, bench/README.md), else ``command`` started idle when a
        CPU is spare or the caller asked for warmers."""
        early, self.early = self.early, None
        if early is not None:
            return early
        if command is None or not self.use_warmer():
            return None
        argv, env, cwd = command
        return warmup.Warmer.start(argv, env, cwd)

    def _warmer_command(self, bundle: Path, modules: Sequence[str], cache: warmup.PycachePrefix
                        ) -> tuple[list[str], dict | None, str | None] | None:
        """How to start a warmer beside a check (None: this kind has none)."""
        return None

    def target_python(self) -> Sequence[int]:
        return self.profile.python

    def _seed(self, cache: warmup.PycachePrefix) -> int:  # -> the seeding run's exit status
        raise NotImplementedError

    def _run(self, bundle: Path, modules: Sequence[str]):  # -> (returncode, stdout, stderr)
        raise NotImplementedError

    def child_args(self, pycache: str | None = None) -> list[str]:
        """Extra arguments of the check process (``trace`` while tracing, the
        bytecode cache it reads as the target sees it)."""
        return (["trace"] if self.tracing else []) + ([f"pycache={pycache}"] if pycache else [])

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
        self.checks += 1
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
        cache = self.warm_cache()
        inside = warmup.ROOT_PREFIX
        argv = ["python3", "-B", "-s", "-c", CHILD_SCRIPT, json.dumps([code_root]), json.dumps(list(modules)),
                *self.child_args(inside if cache else None)]
        env, binds = self._env_and_binds(bundle)
        writable = {str(cache.path): inside} if cache else None
        warmer = self.warmer_beside(self._warmer_command(bundle, modules, cache) if cache else None)
        with warmup.beside(warmer):
            result = rootfs.run_in_root(self.root, argv, binds=binds, env=env, writable=writable)
        return result.returncode, result.stdout, result.stderr

    def _env_and_binds(self, bundle: Path) -> tuple[dict[str, str], dict[str, str]]:
        env = dict(rootfs.runtime_env(self.profile))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env, {str(Path(bundle).resolve()): self.profile.code_root}

    def _warmer_command(self, bundle: Path, modules: Sequence[str], cache: warmup.PycachePrefix
                        ) -> tuple[list[str], dict | None, str | None]:
        env, binds = self._env_and_binds(bundle)
        inside = warmup.ROOT_PREFIX
        argv = warmup.warmer_argv("python3", ["-B", "-s"], [self.profile.code_root], modules, inside)
        return rootfs.root_command(self.root, argv, binds=binds, env=env, writable={str(cache.path): inside}), None, None

    def _seed(self, cache: warmup.PycachePrefix) -> int:
        argv = warmup.seed_argv("python3", ["-B", "-s"], warmup.ROOT_PREFIX)
        try:
            return rootfs.run_in_root(self.root, argv, env=rootfs.runtime_env(self.profile), timeout=warmup.SEEDING,
                                      writable={str(cache.path): warmup.ROOT_PREFIX}).returncode
        except rootfs.RootfsError:
            return -1


class HostVerifier(Verifier):
    scope = "host-python"
    FLAGS = ("-S", "-E", "-B", "-s")

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
        env = self._env(bundle)
        cache = self.warm_cache()
        argv = [self.interp.path, *self.FLAGS, "-c", CHILD_SCRIPT, json.dumps([str(bundle)]), json.dumps(list(modules)),
                *self.child_args(str(cache.path) if cache else None)]
        warmer = self.warmer_beside(self._warmer_command(bundle, modules, cache) if cache else None)
        with warmup.beside(warmer):
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, cwd=str(bundle))
            except subprocess.TimeoutExpired as exc:
                out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                return -9, out, "timed out after 900s"
        return proc.returncode, proc.stdout, proc.stderr

    def _env(self, bundle: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LD_LIBRARY_PATH": self.library_path(bundle),
        }

    def _warmer_command(self, bundle: Path, modules: Sequence[str], cache: warmup.PycachePrefix
                        ) -> tuple[list[str], dict | None, str | None]:
        bundle = Path(bundle).resolve()
        argv = warmup.warmer_argv(self.interp.path, self.FLAGS, [str(bundle)], modules, str(cache.path))
        return argv, self._env(bundle), str(bundle)

    def target_python(self) -> Sequence[int]:
        return self.interp.version

    def _seed(self, cache: warmup.PycachePrefix) -> int:
        argv = warmup.seed_argv(self.interp.path, self.FLAGS, str(cache.path))
        try:
            return subprocess.run(argv, capture_output=True, timeout=warmup.SEEDING, env={"LANG": "C.UTF-8"}).returncode
        except (OSError, subprocess.TimeoutExpired):
            return -1

    def _caveat(self) -> str | None:
        return ("checked with the host's system libraries, not the target's: Python-level imports and "
                "the target's Python version are proven, the target's system libraries are not")


@dataclass(frozen=True)
class NoVerifier:
    """Why no check is possible."""

    reason: str


def make_verifier(profile, python: str | None = None, *, prepare: bool = True) -> Verifier | NoVerifier:
    """The best place to check imports for ``profile``, or why there is none.

    ``python`` forces a host interpreter (it must be the target's version).
    With ``prepare``, the checks' bytecode cache is made now (a build asks
    while uv installs), not by the first check.
    """
    found = _find_verifier(profile, python)
    if prepare and isinstance(found, Verifier):
        found.warm_cache()
    return found


def _find_verifier(profile, python: str | None) -> Verifier | NoVerifier:
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
                found = interpreters.root_python_version(root)
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
