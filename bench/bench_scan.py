#!/usr/bin/env python3
"""Scan speed of fcslim.elf.facts + fcslim.elf.graph on real installs.

Installs two sets for CPython 3.10 / manylinux_2_28 x86_64 with uv (once, into
$FCSLIM_CACHE_DIR/bench/<name>, or reuses them) and reports, per set: ELF files,
ELF bytes, all files walked, scan_tree time (files/s, MB/s of ELF data) and
analyse time, first run and best of --repeat warm runs.

    python bench/bench_scan.py [--repeat 3] [--runtime fc-python3.10] [--json]
    python bench/bench_scan.py --tree DIR [--runtime PROFILE]   # an installed tree instead

Sets:  data = numpy pandas scipy;  ml = opencv-python-headless pillow scikit-learn
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fcslim.cache.location import cache_subdir  # noqa: E402
from fcslim.elf.facts import scan_tree  # noqa: E402
from fcslim.elf.graph import analyse  # noqa: E402
from fcslim.target.profile import load_profile  # noqa: E402

SETS = {
    "data": ["numpy", "pandas", "scipy"],
    "ml": ["opencv-python-headless", "pillow", "scikit-learn"],
}


def ensure_install(name: str, packages: list[str]) -> Path:
    target = cache_subdir("bench") / name
    marker = target / ".installed"
    if marker.exists():
        return target
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "--target", str(target), "--python-version", "3.10",
         "--python-platform", "x86_64-manylinux_2_28", *packages],
        check=True,
    )
    marker.write_text(" ".join(packages) + "\n")
    return target


def count_files(root: Path) -> int:
    return sum(len(files) for _d, _s, files in os.walk(root))


def measure(root: Path, runtime: str, repeat: int) -> dict:
    profile = load_profile(runtime)
    runs = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        files = scan_tree(root)
        t1 = time.perf_counter()
        report = analyse(root, profile, files)
        t2 = time.perf_counter()
        runs.append((t1 - t0, t2 - t1))
    elf_bytes = sum(f.size for f in files)
    best_scan = min(r[0] for r in runs)
    best_analyse = min(r[1] for r in runs)
    return {
        "root": str(root),
        "runtime": runtime,
        "all_files": count_files(root),
        "elf_files": len(files),
        "elf_mb": round(elf_bytes / 1e6, 1),
        "first_scan_s": round(runs[0][0], 3),
        "best_scan_s": round(best_scan, 3),
        "best_analyse_s": round(best_analyse, 3),
        "elf_files_per_s": round(len(files) / best_scan, 1),
        "elf_mb_per_s": round(elf_bytes / 1e6 / best_scan, 1),
        "ok": report.ok,
        "missing": len(report.missing),
        "unloadable": len(report.unloadable),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runtime", default="fc-python3.10")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tree", action="append", default=[], help="an installed tree to scan instead of the sets")
    parser.add_argument("sets", nargs="*", default=list(SETS))
    args = parser.parse_args()
    if args.tree:
        results = {tree: measure(Path(tree), args.runtime, args.repeat) for tree in args.tree}
    else:
        results = {name: measure(ensure_install(name, SETS[name]), args.runtime, args.repeat) for name in args.sets}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, r in results.items():
            print(f"{name}: {r['elf_files']} ELF of {r['all_files']} files, {r['elf_mb']} MB; scan first "
                  f"{r['first_scan_s']}s best {r['best_scan_s']}s ({r['elf_files_per_s']} files/s, "
                  f"{r['elf_mb_per_s']} MB/s); analyse {r['best_analyse_s']}s; ok={r['ok']} "
                  f"missing={r['missing']} unloadable={r['unloadable']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
