"""Bundle sizes of the native cases (issue 11) next to a plain uv install.

    python bench/bench_native.py [--json bench/native_sizes.json]

For each case, `fcslim resolve CASE --runtime debian11-python3.9` (fetched
libraries, their run-time data and programs, slimmed, imports proven in the
clean bullseye root) against `uv pip install --target` of the same
requirements for the same target (Python 3.9, manylinux_2_31 x86_64).  The uv
tree cannot run on the target (no system libraries, no data, no programs):
the difference is what it takes to make it work.  Sizes are bytes on disk
(unzipped) and of the code zip at deflate level 6 (fcslim's report; uv's tree
zipped the same way).  Needs network access, root and debootstrap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CASES = {
    "weasyprint": ["weasyprint"],
    "sounddevice": ["sounddevice"],
    "wand": ["Wand"],
    "ghostscript": ["ghostscript"],
    "numba": ["numba"],
    "numba+tbb": ["numba", "tbb"],
    "pdf2image": ["pdf2image"],
    "pydub": ["pydub"],
    "pytesseract": ["pytesseract"],
}


def _uv() -> str:
    import uv

    return uv.find_uv_bin()


def _tree_bytes(root: Path) -> tuple[int, int]:
    total = 0
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
                    zf.write(path, path.relative_to(root).as_posix())
        handle.seek(0, os.SEEK_END)
        return total, handle.tell()


def measure(name: str, requirements: list[str], work: Path) -> dict:
    reqs = work / f"{name}.txt"
    reqs.write_text("\n".join(requirements) + "\n")
    uv_dir = work / f"{name}-uv"
    subprocess.run([_uv(), "pip", "install", "--quiet", "--target", str(uv_dir), "--python-version", "3.9",
                    "--python-platform", "x86_64-manylinux_2_31", "--only-binary", ":all:", "-r", str(reqs)],
                   check=True)
    uv_bytes, uv_zip = _tree_bytes(uv_dir)
    out = work / f"{name}-fcslim"
    proc = subprocess.run([sys.executable, "-m", "fcslim", "resolve", str(reqs), "--runtime", "debian11-python3.9",
                           "--output", str(out), "-q"], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"case": name, "error": proc.stderr.strip()[-400:]}
    report = json.loads((out / ".fcslim" / "report.json").read_text())
    libraries = json.loads((out / ".fcslim" / "libraries.json").read_text())
    return {
        "case": name, "uv_bytes": uv_bytes, "uv_zip": uv_zip,
        "fcslim_bytes": report["totals"]["bytes"], "fcslim_zip": report["totals"]["zip_bytes"],
        "libraries": len(libraries["fetched"]), "data_files": len(libraries["data_files"]),
        "data_bytes": sum(d["size"] for d in libraries["data_files"]),
        "programs": [e["name"] for e in libraries["executables"]],
    }


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fcslim-bench-native-") as tmp:
        for name, requirements in CASES.items():
            rows.append(measure(name, requirements, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print("| case | uv unzipped | uv zipped | fcslim unzipped | fcslim zipped | fetched libraries | run-time data | programs |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['case']} | - | - | failed: {r['error'][:80]} | | | | |")
            continue
        print(f"| {r['case']} | {_mib(r['uv_bytes'])} | {_mib(r['uv_zip'])} | {_mib(r['fcslim_bytes'])} | "
              f"{_mib(r['fcslim_zip'])} | {r['libraries']} | {r['data_files']} files, {_mib(r['data_bytes'])} | "
              f"{', '.join(r['programs']) or '-'} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
