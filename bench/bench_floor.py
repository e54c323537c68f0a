"""Benchmark: the least time any scheduling of a cold build's work could take here.

Issue 12 asks a cold build within 2.5x of a cold ``uv pip install`` and the
install stage alone within 1.3x.  This benchmark measures, in one run and
on the same machine, the work a build cannot leave out and the CPUs it has,
and prints the least wall time that work could take however it were
overlapped, next to what fcslim takes:

* ``uv``: a cold ``uv pip install --target`` of the set (as bench/run.py runs
  it): its wall time ``W_uv`` and its CPU time ``C_uv`` (user + system of every
  process).  fcslim runs the same install.
* ``python``: ``python -c pass``, the start of any Python program (``W_py``,
  ``C_py``); fcslim's own imports come on top and are *not* counted.
* ``deflate``: deflating every file of the bundle fcslim built, on all cores,
  with an empty stream store (``C_deflate``): what makes the report's zipped
  size exact (``install-deflate``: the same for the install stage's tree).
* ``check``: the import check of that bundle where a build checks it, with
  no bytecode (``C_check``: the target's interpreter compiling and running
  every module the bundle's top-level imports load), and ``W_exec``: the same
  check once every pyc is cached (running the modules, one process, in order).

The floors (``floors``):

* install stage: ``max(W_py + W_uv, (C_py + C_uv + C_install_deflate) / CPUs)``
  (the install cannot start before the program does; all the CPU work shares
  the CPUs).
* cold build: ``max(W_py + W_uv + max(W_exec, C_check / CPUs),
  (C_py + C_uv + C_check + C_deflate) / CPUs)`` (the check needs the installed
  tree, and even split over every CPU its compiling takes ``C_check / CPUs``
  and its running ``W_exec``).

Both are lower bounds: they leave out fcslim's start-up imports, the ELF
scan, the slim plan, probing, storing and every process start but the first.
A floor over the target means the target cannot be met on this machine
while those two pieces of work are done; a floor under it says how much room
scheduling and overheads leave.  fcslim's cold build and install stage run
in the same rounds (the tools take turns), so every ratio is one run's.

Run:  python bench/bench_floor.py [--sets small,data,ml]
      [--runtimes fc-python3.10,debian11-python3.9] [--repeat 3] [--work DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import environment, mirror_reachable, prepare_cache, prepare_tools, run_measured, tool_command  # noqa: E402
from sets import SETS  # noqa: E402

TARGET_COLD = 2.5
TARGET_INSTALL = 1.3


def floors(c: dict[str, float], cpus: int) -> dict[str, float]:
    """The least wall seconds of the install stage and of a cold build, from
    the measured components ``c`` (keys as in the module docstring)."""
    install = max(c["W_py"] + c["W_uv"], (c["C_py"] + c["C_uv"] + c["C_install_deflate"]) / cpus)
    cold = max(c["W_py"] + c["W_uv"] + max(c["W_exec"], c["C_check"] / cpus),
               (c["C_py"] + c["C_uv"] + c["C_check"] + c["C_deflate"]) / cpus)
    return {"install": install, "cold": cold}


# ------------------------------------------------------------------ components, each in a fresh process


def _deflate(tree: str) -> dict[str, float]:
    """CPU and wall seconds of deflating every file of ``tree`` (an empty
    stream store: FCSLIM_CACHE_DIR is a fresh directory)."""
    from fcslim.pack.deflate import deflate_files
    from fcslim.pack.tree import list_tree

    paths = [f.source for f in list_tree(tree).files]
    cpu, wall = time.process_time(), time.perf_counter()
    done = deflate_files(paths)
    return {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
            "bytes": sum(d.size for d, _ in done), "files": len(done)}


def _check(tree: str, runtime: str) -> dict[str, float]:
    """The import check of ``tree``: CPU and wall seconds with no bytecode
    (no warm-up, no warmer: one process compiles and runs everything), and
    the wall seconds of the same check with every pyc cached."""
    import resource

    from bench_check import configured  # a verifier set as a build's, warm-up and warmer forced
    from fcslim.verify.imports import top_level_modules

    modules = top_level_modules(Path(tree))
    cold = configured(runtime, False, False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    result = cold.check(Path(tree), modules)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not result.ok:
        raise SystemExit(f"the check of {tree} failed: {result.failed}")
    hot = configured(runtime, True, False)
    hot.checks = 1  # as after a build's first check: this one writes the cache (a first check alone does not)
    hot.check(Path(tree), modules)
    exec_wall = time.perf_counter()
    again = hot.check(Path(tree), modules)  # reads every pyc
    exec_wall = time.perf_counter() - exec_wall
    if not again.ok:
        raise SystemExit(f"the second check of {tree} failed: {again.failed}")
    return {"cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), "wall_s": wall,
            "exec_wall_s": exec_wall}


def component(kind: str, args: list[str], cache: Path) -> dict[str, float]:
    """Run one component in a fresh interpreter with ``cache`` as its
    FCSLIM_CACHE_DIR; its own figures come back as JSON."""
    env = {**os.environ, "FCSLIM_CACHE_DIR": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--component", kind, *args],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ one set


def measure_set(name: str, profile, work: Path, real_roots: Path | None, no_fetch: bool, repeat: int,
                echo) -> dict[str, Any]:
    set_dir = work / profile.name / name
    set_dir.mkdir(parents=True, exist_ok=True)
    requirements = set_dir / "requirements.txt"
    requirements.write_text(SETS[name].requirements_text(True, profile.python_version))
    extra = ["--no-fetch"] if no_fetch else []
    tools = ["uv", "fcslim-install", "fcslim"]
    rounds: list[dict[str, float]] = []
    for number in range(repeat):
        turn = number % len(tools)
        figures: dict[str, float] = {}
        outputs: dict[str, Path] = {}
        for tool in tools[turn:] + tools[:turn]:
            cache = set_dir / f"{tool}-cache"
            prepare_cache(tool, cache, real_roots)
            output = set_dir / f"{tool}-out"
            shutil.rmtree(output, ignore_errors=True)
            argv, env = tool_command(tool, requirements, output, cache, profile, extra)
            raw = run_measured(argv, env, set_dir / f"{tool}.json")
            if raw["returncode"] != 0:
                raise SystemExit(f"{profile.name} {name}: {tool} failed (exit {raw['returncode']}):\n{raw['log_tail']}")
            figures[f"W_{tool}"], figures[f"C_{tool}"] = raw["wall_s"], raw["cpu_s"]
            outputs[tool] = output
            shutil.rmtree(cache, ignore_errors=True)
        python = run_measured([sys.executable, "-c", "pass"], dict(os.environ), set_dir / "python.json")
        figures["W_py"], figures["C_py"] = python["wall_s"], python["cpu_s"]
        scratch = Path(tempfile.mkdtemp(dir=set_dir, prefix="streams-"))
        figures["C_deflate"] = component("deflate", [str(outputs["fcslim"])], scratch)["cpu_s"]
        shutil.rmtree(scratch)
        scratch = Path(tempfile.mkdtemp(dir=set_dir, prefix="streams-"))
        figures["C_install_deflate"] = component("deflate", [str(outputs["fcslim-install"])], scratch)["cpu_s"]
        shutil.rmtree(scratch)
        check_cache = Path(tempfile.mkdtemp(dir=set_dir, prefix="check-"))
        if real_roots is not None:
            (check_cache / "roots").symlink_to(real_roots, target_is_directory=True)
        runtime = profile.source if profile.source not in ("built-in", "") else profile.name
        check = component("check", [str(outputs["fcslim"]), runtime], check_cache)
        shutil.rmtree(check_cache)
        figures["C_check"], figures["W_check"], figures["W_exec"] = check["cpu_s"], check["wall_s"], check["exec_wall_s"]
        for output in outputs.values():
            shutil.rmtree(output, ignore_errors=True)
        rounds.append(figures)
        echo(f"[{profile.name} {name}] round {number + 1}: uv {figures['W_uv']:.2f} s, fcslim {figures['W_fcslim']:.2f} s, "
             f"deflate {figures['C_deflate']:.2f} CPU-s, check {figures['C_check']:.2f} CPU-s")
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    cpus = len(os.sched_getaffinity(0))
    per_round = [floors(r, cpus) for r in rounds]
    return {
        "runtime": profile.name, "set": name, "cpus": cpus, "rounds": rounds, "median": median,
        "floor_install_ratio": statistics.median(f["install"] / r["W_uv"] for f, r in zip(per_round, rounds)),
        "floor_cold_ratio": statistics.median(f["cold"] / r["W_uv"] for f, r in zip(per_round, rounds)),
        "install_ratio": statistics.median(r["W_fcslim-install"] / r["W_uv"] for r in rounds),
        "cold_ratio": statistics.median(r["W_fcslim"] / r["W_uv"] for r in rounds),
        "own_cpu_s": statistics.median(r["C_fcslim"] - r["C_uv"] - r["C_check"] - r["C_deflate"] for r in rounds),
    }


def render(rows: list[dict[str, Any]]) -> str:
    head = ("| runtime | set | uv wall | uv CPU | deflate CPU | check CPU | check, pycs cached | "
            "install: floor / fcslim | cold: floor / fcslim | fcslim CPU besides uv, check, deflate |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        m = row["median"]
        lines.append(
            f"| {row['runtime']} | {row['set']} | {m['W_uv']:.2f} s | {m['C_uv']:.2f} s | {m['C_deflate']:.2f} s | "
            f"{m['C_check']:.2f} s | {m['W_exec']:.2f} s | {row['floor_install_ratio']:.2f}x / {row['install_ratio']:.2f}x | "
            f"{row['floor_cold_ratio']:.2f}x / {row['cold_ratio']:.2f}x | {row['own_cpu_s']:.2f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--component"]:
        kind, rest = argv[1], argv[2:]
        print(json.dumps(_deflate(*rest) if kind == "deflate" else _check(*rest)))
        return 0
    from fcslim.cache.location import cache_root
    from fcslim.target.profile import load_profile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="small,data,ml")
    parser.add_argument("--runtimes", default="fc-python3.10,debian11-python3.9")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="outputs and caches (default: a temporary directory)")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    def echo(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    prepare_tools()
    real_roots = cache_root() / "roots"
    own_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="fcslim-bench-floor-")) if own_work else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    machine = environment()
    rows = []
    try:
        for runtime in args.runtimes.split(","):
            profile = load_profile(runtime)
            no_fetch = not mirror_reachable(profile)
            for name in args.sets.split(","):
                rows.append(measure_set(name, profile, work, real_roots if real_roots.is_dir() else None, no_fetch,
                                        max(1, args.repeat), echo))
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"Machine: {machine['machine']}; {machine['uv']}; {rows[0]['cpus'] if rows else '?'} CPUs usable; "
          f"medians of {max(1, args.repeat)} rounds; targets: install {TARGET_INSTALL}x, cold {TARGET_COLD}x")
    print(render(rows))
    if args.json_path:
        args.json_path.write_text(json.dumps({"environment": machine, "command": "python bench/bench_floor.py " +
                                              " ".join(argv), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
