#!/usr/bin/env python3
"""fcslim's ELF reader against lief and pyelftools: time and peak memory.

Each reader reads the same facts (DT_NEEDED, SONAME, RUNPATH/RPATH, version
needs and definitions) of every ELF file of a tree, in a fresh process per
reader and round, so each peak RSS (``ru_maxrss``) is that reader's alone; the
tree walk is done before the clock starts.  lief and pyelftools are not
fcslim's dependencies: install them to compare (``pip install lief
pyelftools``); a reader that is not installed is reported as such.

    python bench/bench_elf_readers.py [--rounds 3] [--sets data,bigapp] [--tree DIR ...]

Sets are installed once with uv from the pins of ``bench/sets.py`` into
``$FCSLIM_CACHE_DIR/bench/readers-<set>`` (bigapp for CPython 3.9 on
manylinux_2_31, the others for 3.10 on manylinux_2_28).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sets import SETS  # noqa: E402
from fcslim.cache.location import cache_subdir  # noqa: E402
from fcslim.elf.facts import iter_elf_paths, read_elf  # noqa: E402

READERS = ("fcslim", "pyelftools", "lief")


def _read_fcslim(paths: list[Path]) -> None:
    for path in paths:
        read_elf(path)


def _read_lief(paths: list[Path]) -> None:
    import lief  # optional: not a dependency of fcslim; only this reader's process imports it

    lief.logging.disable()
    config = lief.ELF.ParserConfig()  # the trimmed parse fcslim used until it had its own reader
    config.parse_dyn_symbols = config.parse_symtab_symbols = config.parse_relocations = False
    config.parse_notes = config.parse_overlay = False
    config.parse_symbol_versions = True
    for path in paths:
        binary = lief.ELF.parse(str(path), config)
        if binary is None:
            continue
        [entry.tag for entry in binary.dynamic_entries]
        [(req.name, [aux.name for aux in req.get_auxiliary_symbols()]) for req in binary.symbols_version_requirement]
        [aux.name for d in binary.symbols_version_definition for aux in d.auxiliary_symbols]


def _read_pyelftools(paths: list[Path]) -> None:
    from elftools.elf.elffile import ELFFile  # optional, as above
    from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

    for path in paths:
        with open(path, "rb") as handle:
            elf = ELFFile(handle)
            for segment in elf.iter_segments():
                if segment.header.p_type == "PT_DYNAMIC":
                    [tag.entry.d_tag for tag in segment.iter_tags()]
            for section in elf.iter_sections():
                if isinstance(section, (GNUVerNeedSection, GNUVerDefSection)):
                    [[aux.name for aux in auxes] for _v, auxes in section.iter_versions()]


def child(reader: str, listing: str) -> int:
    paths = [Path(p) for p in Path(listing).read_text().splitlines()]
    read = {"fcslim": _read_fcslim, "lief": _read_lief, "pyelftools": _read_pyelftools}[reader]
    try:
        start = time.perf_counter()
        read(paths)
        seconds = time.perf_counter() - start
    except ImportError as exc:
        print(json.dumps({"error": f"not installed ({exc})"}))
        return 0
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    return 0


def ensure_install(name: str) -> Path:
    target = cache_subdir("bench") / f"readers-{name}"
    if (target / ".installed").exists():
        return target
    python, platform = ("3.9", "x86_64-manylinux_2_31") if name == "bigapp" else ("3.10", "x86_64-manylinux_2_28")
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as req:
        req.write(SETS[name].requirements_text(python=python))
        req.flush()
        subprocess.run(["uv", "pip", "install", "--quiet", "--target", str(target), "--python-version", python,
                        "--python-platform", platform, "--only-binary", ":all:", "-r", req.name], check=True)
    (target / ".installed").write_text(name + "\n")
    return target


def measure(tree: Path, rounds: int) -> dict:
    paths = sorted(iter_elf_paths(tree))
    total = sum(p.stat().st_size for p in paths)
    result: dict = {"tree": str(tree), "elf_files": len(paths), "elf_mib": round(total / 2**20, 1)}
    with tempfile.NamedTemporaryFile("w", suffix=".lst") as listing:
        listing.write("\n".join(str(p) for p in paths))
        listing.flush()
        for reader in READERS:
            runs = []
            for _ in range(rounds):
                out = subprocess.run([sys.executable, __file__, "--child", reader, listing.name],
                                     capture_output=True, text=True, check=True).stdout
                runs.append(json.loads(out))
            if "error" in runs[0]:
                result[reader] = runs[0]
                continue
            result[reader] = {"median_s": round(statistics.median(r["seconds"] for r in runs), 3),
                              "runs_s": [round(r["seconds"], 3) for r in runs],
                              "peak_rss_mib": round(max(r["peak_rss_bytes"] for r in runs) / 2**20, 1)}
    return result


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", default="data,bigapp")
    parser.add_argument("--tree", action="append", default=[], help="a directory to read instead of a set")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees = [Path(t) for t in args.tree] or [ensure_install(name) for name in args.sets.split(",") if name]
    results = [measure(tree, args.rounds) for tree in trees]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(f"{r['tree']}: {r['elf_files']} ELF files, {r['elf_mib']} MiB")
        for reader in READERS:
            m = r[reader]
            print(f"  {reader:10s} " + (m["error"] if "error" in m else
                                        f"{m['median_s']:.3f} s median of {m['runs_s']}, peak {m['peak_rss_mib']} MiB"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
