"""``--smoke FILE``: run the user's own script against the bundle on the target,
and record every file of the bundle it opened.

The script is the function's own check (typically: import the handler module,
call ``handler(sample_event, None)``, assert on the answer).  It runs where
the import checks run (:func:`fcslim.verify.imports.make_verifier`): in a
clean root of the profile's Debian release with the bundle read-only at the
code root and the runtime's search paths, or with the target's exact host
interpreter.  The script's directory (the function's code) is mounted
read-only at :data:`SCRIPT_DIR` and is the working directory, so ``import
index`` finds the handler beside the script.  Under :mod:`fcslim.verify.trace`
every file opened is recorded, by any process, C code included.

Exit 0 of the script is a pass; anything else is a failure whose output is
kept for the message.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fcslim.core.errors import InputError
from fcslim.core.hashing import file_sha256
from fcslim.verify import rootfs
from fcslim.verify.imports import HostVerifier, NoVerifier, RootVerifier, make_verifier
from fcslim.verify.trace import make_tracer, opened_paths, tracer_support, under

SCRIPT_DIR = "/var/fcslim-smoke"
TIMEOUT_S = 1800


@dataclass
class SmokeResult:
    """One run of the smoke script."""

    script: str
    ok: bool
    returncode: int
    where: str
    stdout: str = ""
    stderr: str = ""
    traced: bool = False
    trace_reason: str | None = None  # why nothing was traced
    opened: set[str] = field(default_factory=set)  # bundle-relative paths
    seconds: float = 0.0

    def tail(self, lines: int = 12) -> str:
        return "\n".join((self.stderr or self.stdout).strip().splitlines()[-lines:])

    def to_dict(self) -> dict:
        return {"script": self.script, "ok": self.ok, "returncode": self.returncode, "where": self.where,
                "traced": self.traced, "trace_reason": self.trace_reason, "opened_files": len(self.opened),
                "seconds": round(self.seconds, 3), "output_tail": self.tail()}


def code_digest(script: Path) -> str:
    """A digest of the smoke script and the function code beside it (every
    file under its directory but hidden ones and bytecode caches): what the
    smoke touches depends on both, so the bundle cache keys on it."""
    script = _check_script(script)
    digest = hashlib.sha256(script.name.encode() + b"\0")
    for path in sorted(p for p in script.parent.rglob("*") if p.is_file()):
        rel = path.relative_to(script.parent)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        digest.update(rel.as_posix().encode() + b"\0" + file_sha256(path).encode() + b"\0")
    return digest.hexdigest()


def _check_script(script: Path) -> Path:
    script = Path(script).resolve()
    if not script.is_file():
        raise InputError(f"The smoke script {script} does not exist.",
                         "Pass a Python file that calls your handler with a sample event (--smoke FILE).")
    return script


def run_smoke(bundle: Path, profile, script: Path, *, trace: bool = True, python: str | None = None,
              timeout: float = TIMEOUT_S) -> SmokeResult:
    """Run ``script`` against ``bundle`` on ``profile``'s target (see the
    module docstring); with ``trace``, record the bundle files it opened."""
    script = _check_script(script)
    bundle = Path(bundle).resolve()
    verifier = make_verifier(profile, python, prepare=False)
    if isinstance(verifier, NoVerifier):
        return SmokeResult(str(script), False, -1, "", stderr=f"not run: {verifier.reason}",
                           trace_reason=verifier.reason)
    why_not = tracer_support() if trace else "not asked"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fcslim-smoke-") as tmp:
        tracer = make_tracer(Path(tmp) / "trace") if why_not is None else None
        wrapper = tracer.argv() if tracer else []
        if isinstance(verifier, RootVerifier):
            code_root = profile.code_root
            env = dict(rootfs.runtime_env(profile))
            env.update({"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"})
            try:
                run = rootfs.run_in_root(verifier.root, ["python3", "-B", f"{SCRIPT_DIR}/{script.name}"],
                                         binds={str(bundle): code_root, str(script.parent): SCRIPT_DIR}, env=env,
                                         cwd=SCRIPT_DIR, timeout=timeout, wrapper=wrapper)
                code, out, err = run.returncode, run.stdout, run.stderr
            except rootfs.RootfsError as exc:
                code, out, err = -1, "", str(exc)
            prefixes = [code_root, str(verifier.root / code_root.lstrip("/"))]
        else:
            assert isinstance(verifier, HostVerifier)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": tmp,
                   "PYTHONPATH": f"{script.parent}:{bundle}", "PYTHONDONTWRITEBYTECODE": "1",
                   "LD_LIBRARY_PATH": verifier.library_path(bundle)}
            try:
                proc = subprocess.run([*wrapper, verifier.interp.path, "-B", "-s", str(script)], cwd=script.parent,
                                      env=env, capture_output=True, text=True, timeout=timeout)
                code, out, err = proc.returncode, proc.stdout, proc.stderr
            except subprocess.TimeoutExpired:
                code, out, err = -9, "", f"the smoke script ran over {timeout:.0f}s"
            prefixes = [str(bundle)]
        opened: set[str] = set()
        if tracer is not None and tracer.output.exists():
            with open(tracer.output, errors="replace") as trace:  # line by line: a long run's trace is big
                opened = under(opened_paths(trace), *prefixes)
    return SmokeResult(str(script), code == 0, code, verifier.where, out[-20000:], err[-20000:],
                       traced=tracer is not None, trace_reason=why_not, opened=opened,
                       seconds=time.monotonic() - started)
