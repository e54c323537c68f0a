"""What fcslim's ownership record costs on a big bundle.

Before replacing an output directory, fcslim walks it and compares every file
with the ``.fcslim/owner.json`` it wrote at the last swap (once before the
build and once right before the swap), and writes a new record at each swap.
This builds synthetic bundles of N empty files (200 packages, 7 subpackages
each) and times writing the record and checking the directory.

    python bench/bench_ownership.py 2000 10000 50000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from fcslim.core.output import OWNER_RECORD, RECORDS_DIR, check_output_dir, write_owner_record


def measure(n: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "build"
        for i in range(n):
            directory = out / f"pkg{i % 200}" / f"sub{i % 7}"
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"m{i}.py").write_text("")
        started = time.perf_counter()
        write_owner_record(out)
        written = time.perf_counter() - started
        started = time.perf_counter()
        check_output_dir(out)
        checked = time.perf_counter() - started
        size = (out / RECORDS_DIR / OWNER_RECORD).stat().st_size
        return f"| {n} | {written * 1000:.0f} ms | {checked * 1000:.0f} ms | {size / 1024:.0f} KiB |"


if __name__ == "__main__":
    print("| files | write record | check output | record size |")
    print("|-------|--------------|--------------|-------------|")
    for arg in sys.argv[1:] or ["2000", "10000", "50000"]:
        print(measure(int(arg)))
