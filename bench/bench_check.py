"""Benchmark: the import check with and without bytecode warm-up.

For each set of bench/sets.py, the bundle is built once (``fcslim resolve
--no-gate``, slimmed, its imports proven; the shared cache's clean roots and
uv cache are used) and then checked where a build checks it (the clean root,
or the host interpreter of the target's version), in turns, every variant a
fresh verifier with a cold cache:

* ``before``: the check as it was (no bytecode cache);
* ``first``: what a build's first check now is on this machine (a warmer
  only when a CPU is spare: see fcslim/verify/warmup.py);
* ``warmer``: the first check with a warmer forced on;
* ``recheck``: a second check by the same verifier (slim's rollback checks
  again): it reads what the first one compiled.

With ``--alongside`` each check runs while the build's report measurement of
the same tree runs in a thread (as in a build: ``report.measure.measure_ahead``,
fresh stream store each time), and the window (both done) is timed too.
With ``--rollback GLOB`` a copy of each bundle is slimmed again with ``--remove
GLOB`` (a removal that breaks an import, which slim's repair puts back),
before and after in turns: the seconds of the slim, and how many checks ran.

Run:  python bench/bench_check.py [--sets small,data,ml] [--runtime debian11-python3.9] [--repeat 5]
      [--alongside] [--rollback pandas/_config/display.py]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fcslim.report.measure import measure_ahead
from fcslim.slim.apply import slim
from fcslim.slim.rules import cli_user_rules, ruleset_for
from fcslim.target.profile import load_profile
from fcslim.verify.imports import Verifier, make_verifier, top_level_modules

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sets import SETS  # noqa: E402

VARIANTS = ("before", "first", "warmer", "recheck")


def build(name: str, runtime: str, work: Path) -> Path:
    profile = load_profile(runtime)
    requirements = work / f"{name}.txt"
    requirements.write_text(SETS[name].requirements_text(python=profile.python_version))
    out = work / f"{name}-{runtime}"
    extra = ["--no-fetch"] if runtime.startswith("fc-") else []
    subprocess.run([sys.executable, "-m", "fcslim", "resolve", str(requirements), "--runtime", runtime, "-o",
                    str(out), "--no-gate", "-q", *extra], check=True, stdout=subprocess.DEVNULL)
    return out


def configured(runtime: str, warm_up: bool, warmer: bool | None) -> Verifier:
    """A verifier as make_verifier gives it while uv installs (a cache the
    first check uses is seeded then), with ``warm_up`` and ``warmer`` set
    (None: as a build decides, by the CPUs)."""
    Verifier.warm_up, Verifier.warmer = warm_up, warmer
    try:
        verifier = make_verifier(load_profile(runtime))
    finally:
        Verifier.warm_up, Verifier.warmer = True, None
    assert isinstance(verifier, Verifier)
    verifier.warm_up, verifier.warmer = warm_up, warmer
    return verifier


def one(variant: str, tree: Path, runtime: str, alongside: bool, work: Path) -> tuple[float, float]:
    """(the check's seconds, the window's: check and measurement both done)."""
    verifier = configured(runtime, variant != "before", {"warmer": True, "recheck": False}.get(variant))
    modules = top_level_modules(tree)
    if variant == "recheck":
        verifier.checks = 1  # as after a first check: the cache is made, and this check writes it
        verifier.check(tree, modules)
    streams = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
    os.environ["FCSLIM_CACHE_DIR"] = str(streams)
    worker = threading.Thread(target=measure_ahead, args=(tree,)) if alongside else None
    start = time.perf_counter()
    if worker:
        worker.start()
    result = verifier.check(tree, modules)
    checked = time.perf_counter() - start
    if worker:
        worker.join()
    window = time.perf_counter() - start
    os.environ["FCSLIM_CACHE_DIR"] = str(work / "shared")
    shutil.rmtree(streams, ignore_errors=True)
    if not result.ok:
        raise SystemExit(f"{tree.name}: {variant} check failed: {result.failed}")
    return checked, window


def rollback(tree: Path, runtime: str, glob: str, warm: bool, work: Path) -> tuple[float, int]:
    """(seconds, checks) of slimming a copy of ``tree`` with ``--remove glob``."""
    copy = Path(tempfile.mkdtemp(dir=work, prefix="rollback-")) / "bundle"
    shutil.copytree(tree, copy, symlinks=True)
    profile = load_profile(runtime)
    verifier = configured(runtime, warm, None)
    start = time.perf_counter()
    result = slim(copy, profile, rules=ruleset_for(cli_user_rules(remove=[glob])), verifier=verifier)
    seconds = time.perf_counter() - start
    shutil.rmtree(copy.parent, ignore_errors=True)
    if not result.verified.ok:
        raise SystemExit(f"{tree.name}: the slim with --remove {glob} failed: {result.verified.failed}")
    return seconds, result.verification_runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="small,data,ml")
    parser.add_argument("--runtime", default="debian11-python3.9")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--alongside", action="store_true", help="measure the tree in a thread meanwhile")
    parser.add_argument("--rollback", metavar="GLOB", help="slim again with --remove GLOB instead")
    args = parser.parse_args(argv)
    shared = os.environ.get("FCSLIM_CACHE_DIR")
    work = Path(tempfile.mkdtemp(prefix="fcslim-bench-check-"))
    try:
        (work / "shared").symlink_to(Path(shared).resolve() if shared else Path.home() / ".cache" / "fcslim")
        os.environ["FCSLIM_CACHE_DIR"] = str(work / "shared")
        print(f"cpus: {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}; runtime {args.runtime}; "
              f"{'with' if args.alongside else 'without'} the measurement alongside; medians of {args.repeat}")
        for name in args.sets.split(","):
            tree = build(name, args.runtime, work)
            if args.rollback:
                runs: dict[bool, list[tuple[float, int]]] = {False: [], True: []}
                for _ in range(args.repeat):  # in turns
                    for warm in (False, True):
                        runs[warm].append(rollback(tree, args.runtime, args.rollback, warm, work))
                before, after = (statistics.median(s for s, _ in runs[w]) for w in (False, True))
                print(f"{name:6s} slim --remove {args.rollback}: {runs[True][0][1]} checks; before {before:.3f} s, "
                      f"after {after:.3f} s ({after / before:.2f}x)", flush=True)
                continue
            times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
            for _ in range(args.repeat):
                for variant in VARIANTS:
                    times[variant].append(one(variant, tree, args.runtime, args.alongside, work))
            base = statistics.median(c for c, _ in times["before"])
            base_window = statistics.median(w for _, w in times["before"])
            for variant in VARIANTS:
                check = statistics.median(c for c, _ in times[variant])
                window = statistics.median(w for _, w in times[variant])
                line = f"{name:6s} {variant:8s} check {check:.3f} s ({check / base:.2f}x)"
                if args.alongside:
                    line += f"  window {window:.3f} s ({window / base_window:.2f}x)"
                print(line, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
