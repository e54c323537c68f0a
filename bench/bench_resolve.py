"""Time `fcslim resolve` against raw `pip install -t` and `uv pip install --target`.

    python bench/bench_resolve.py [--runtime fc-python3.10] [--repeat 3] [--sets small,data,ml]

For each set every tool installs the same requirements for the same target
(wheels only) into a fresh directory.  One untimed warm-up run per tool fills
its cache (fcslim and raw uv share one uv cache; pip has its own), then
``--repeat`` timed runs follow; the median is reported with ratios to raw uv.
Needs network access to PyPI.  This measures the resolve-and-install stage:
fcslim runs with ``--no-fetch --no-slim --no-verify --no-cache --no-gate`` (the
whole pipeline is measured by bench/run.py).  fcslim's time includes its own
parsing, the post-install tag and Requires-Python checks, the install record
and the size measurement; like raw uv it hard-links files out of uv's cache
(its default); the ``fcslim-copy`` row shows the cost of ``--link-mode copy``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETS = {
    "small": ["requests", "pyyaml", "jinja2"],
    "data": ["numpy", "pandas", "scipy"],
    "ml": ["opencv-python-headless", "pillow", "scikit-learn"],
}


def _uv() -> str:
    import uv

    return uv.find_uv_bin()


def commands(tool: str, profile, req: Path, dest: Path, work: Path) -> list[str]:
    from fcslim.resolve.uv import uv_python_platform

    if tool in ("fcslim", "fcslim-copy"):
        argv = [sys.executable, "-m", "fcslim", "resolve", str(req), "--runtime", profile.name,
                "--output", str(dest), "-q", "--no-fetch", "--no-slim", "--no-verify", "--no-cache", "--no-gate"]
        return argv + (["--link-mode", "copy"] if tool == "fcslim-copy" else [])
    if tool == "uv":
        return [_uv(), "pip", "install", "--target", str(dest), "-r", str(req),
                "--python-version", profile.python_full_version,
                "--python-platform", uv_python_platform(profile), "--only-binary", ":all:",
                "--no-python-downloads", "--no-config", "--quiet"]
    if tool == "pip":
        platforms = [p for p in profile.platforms if not p.startswith("linux_")]
        argv = [sys.executable, "-m", "pip", "install", "--target", str(dest), "-r", str(req),
                "--python-version", profile.python_version, "--implementation", "cp", "--abi", profile.abi,
                "--only-binary", ":all:", "--cache-dir", str(work / "pip-cache"), "--quiet",
                "--disable-pip-version-check"]
        for platform in platforms:
            argv += ["--platform", platform]
        return argv
    raise ValueError(tool)


def environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["UV_CACHE_DIR"] = str(work / "uv-cache")
    env["PIP_CONFIG_FILE"] = os.devnull
    env.pop("PIP_FIND_LINKS", None)
    return env


def time_once(argv: list[str], dest: Path, env: dict[str, str]) -> float:
    if dest.exists():
        shutil.rmtree(dest)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="fc-python3.10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--tools", default="fcslim,fcslim-copy,uv,pip")
    parser.add_argument("--work", type=Path, help="Directory for caches and outputs (default: a temporary one).")
    args = parser.parse_args()

    from fcslim.target.profile import load_profile

    profile = load_profile(args.runtime)
    work = args.work or Path(tempfile.mkdtemp(prefix="fcslim-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = environment(work)
    tools = args.tools.split(",")
    print(f"runtime {profile.name}; repeat {args.repeat}; work {work}")
    print(f"{'set':6} " + " ".join(f"{t + ' s':>16}" for t in tools) + "  ratios to uv")
    for name in args.sets.split(","):
        req = work / f"{name}.txt"
        req.write_text("\n".join(SETS[name]) + "\n")
        medians = {}
        for tool in tools:
            dest = work / f"out-{name}-{tool}"
            argv = commands(tool, profile, req, dest, work)
            time_once(argv, dest, env)  # warm-up: fills the cache
            medians[tool] = statistics.median(time_once(argv, dest, env) for _ in range(args.repeat))
        ratios = "  ".join(f"{t}/uv {medians[t] / medians['uv']:.2f}x" for t in tools if t != "uv" and "uv" in medians)
        print(f"{name:6} " + " ".join(f"{medians[t]:16.2f}" for t in tools) + f"  {ratios}", flush=True)


if __name__ == "__main__":
    main()
