#!/usr/bin/env python3
"""Peak memory of `fcslim resolve`, per process: fcslim itself, the tools it
runs, and the import check (the target's Python importing the bundle).

bench/run.py reports one number, the largest resident set of any process in
the command's tree.  On the TensorFlow set that number is the import check's
``import tensorflow`` (about 600 MiB: the user's code, which the function
needs at run time too), so this script tells the processes apart.  Every
process of the tree is sampled every 50 ms and its high-water mark (``VmHWM``
in /proc, exact for the process, not a sample) kept:

* ``fcslim``: the fcslim process itself;
* ``tools``: what it runs for its own work (uv, gpgv, tar...);
* ``import check``: the interpreter that imports the bundle in the clean root
  (its command line carries fcslim's verify marker).

    python bench/bench_memory.py [--sets small,data,ml,bigapp] [--fcslim PATH] [--json FILE]

Each set is built twice: ``cold`` (fresh ``FCSLIM_CACHE_DIR``; the clean roots
and uv's wheel cache are linked in from ``$FCSLIM_CACHE_DIR``, so installs
unpack rather than download) and ``warm`` (same cache, new output).  small,
data and ml are built for debian11-python3.9, bigapp for tests/support/bigapp/fc-like.json
with ``--pack auto --handler index.handler``.  ``--fcslim`` runs another
installation's command (e.g. an older checkout's venv) for a before/after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sets import SETS  # noqa: E402
from fcslim.cache.location import cache_root  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VERIFY_MARKER = "fcslim-verify"
PLANS = {
    "small": ("debian11-python3.9", "3.9", []),
    "data": ("debian11-python3.9", "3.9", []),
    "ml": ("debian11-python3.9", "3.9", []),
    "bigapp": (str(ROOT / "tests/support/bigapp/fc-like.json"), "3.9", ["--pack", "auto", "--handler", "index.handler"]),
}


@dataclass
class Peaks:
    set: str
    phase: str
    wall_s: float = 0.0
    returncode: int = 0
    fcslim_mib: float = 0.0
    tools_mib: float = 0.0
    tool: str = ""
    import_check_mib: float = 0.0
    tree_max_mib: float = 0.0  # getrusage(RUSAGE_CHILDREN): what bench/run.py reports
    stages: dict[str, float] = field(default_factory=dict)


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def watch(argv: list[str], env: dict[str, str], peaks: Peaks) -> None:
    """Run ``argv``, sampling its process tree until it exits."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    names: dict[int, str] = {}
    while proc.poll() is None:
        peaks.fcslim_mib = max(peaks.fcslim_mib, _status_kib(proc.pid, "VmHWM:") / 1024)
        stack = _children(proc.pid)
        while stack:
            pid = stack.pop()
            stack += _children(pid)
            name = names.setdefault(pid, _command(pid))
            mib = _status_kib(pid, "VmHWM:") / 1024
            if VERIFY_MARKER in name:
                peaks.import_check_mib = max(peaks.import_check_mib, mib)
            elif mib > peaks.tools_mib:
                peaks.tools_mib, peaks.tool = mib, Path(name.split(" ")[0]).name
        time.sleep(0.05)
    reader.join(timeout=5)
    peaks.wall_s = round(time.perf_counter() - start, 2)
    peaks.fcslim_mib, peaks.tools_mib = round(peaks.fcslim_mib, 1), round(peaks.tools_mib, 1)
    peaks.import_check_mib = round(peaks.import_check_mib, 1)
    peaks.returncode = proc.returncode
    for line in lines:  # "install: 3.3 s" lines of a non-terminal run
        stage, _, rest = line.strip().rpartition(": ")
        if stage and rest.endswith(" s") and rest[:-2].replace(".", "", 1).isdigit():
            peaks.stages[stage] = float(rest[:-2])
    if proc.returncode:
        print("".join(lines[-20:]), file=sys.stderr)


def run_phase(name: str, phase: str, fcslim: str, work: Path) -> Peaks:
    """One build of ``name`` in ``work`` (its cache is kept between phases)."""
    runtime, python, extra = PLANS[name]
    requirements = work / f"{name}.txt"
    requirements.write_text(SETS[name].requirements_text(python=python))
    out = work / f"out-{phase}"
    peaks = Peaks(name, phase)
    watch([fcslim, "resolve", str(requirements), "--runtime", runtime, "-o", str(out), *extra],
          {**os.environ, "FCSLIM_CACHE_DIR": str(work / "cache")}, peaks)
    peaks.tree_max_mib = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    shutil.rmtree(out, ignore_errors=True)
    return peaks


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--one":  # a fresh process per build: RUSAGE_CHILDREN is per process
        print(json.dumps(asdict(run_phase(sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="small,data,ml,bigapp")
    parser.add_argument("--fcslim", default=shutil.which("fcslim") or "fcslim", help="the fcslim command to measure")
    parser.add_argument("--work", default=None, help="where caches and outputs go (default: a temporary directory)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    shared = cache_root()
    results = []
    for name in [s for s in args.sets.split(",") if s]:
        with tempfile.TemporaryDirectory(prefix=f"fcslim-bench-memory-{name}-", dir=args.work) as tmp:
            work = Path(tmp)
            (work / "cache").mkdir()
            for linked in ("roots", "uv"):
                if (shared / linked).is_dir():
                    (work / "cache" / linked).symlink_to(shared / linked, target_is_directory=True)
            for phase in ("cold", "warm"):
                out = subprocess.run([sys.executable, __file__, "--one", name, phase, args.fcslim, str(work)],
                                     capture_output=True, text=True)
                sys.stderr.write(out.stderr)
                if out.returncode or not out.stdout.strip():
                    print(f"[{name} {phase}] the measuring process failed", file=sys.stderr)
                    continue
                peaks = json.loads(out.stdout)
                results.append(peaks)
                print(f"[{name} {phase}] {peaks['wall_s']} s, exit {peaks['returncode']}: fcslim "
                      f"{peaks['fcslim_mib']:.1f} MiB, tools {peaks['tools_mib']:.1f} MiB ({peaks['tool']}), "
                      f"import check {peaks['import_check_mib']:.1f} MiB", file=sys.stderr)
    print("| set | phase | wall | fcslim | tools (largest) | import check | largest in the tree |")
    print("|-----|-------|------|--------|-----------------|--------------|---------------------|")
    for r in results:
        print(f"| {r['set']} | {r['phase']} | {r['wall_s']:.1f} s | {r['fcslim_mib']:.1f} MiB | "
              f"{r['tools_mib']:.1f} MiB ({r['tool'] or '-'}) | {r['import_check_mib']:.1f} MiB | "
              f"{r['tree_max_mib']:.1f} MiB |")
    if args.json:
        Path(args.json).write_text(json.dumps({"fcslim": args.fcslim, "results": results}, indent=2) + "\n")
    return 0 if results and all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
