"""Deflate implementations on a real bundle tree: speed, size, determinism.

    python bench/bench_deflate.py TREE [THREADS]     e.g. THREADS=1,2

Every regular file of TREE is read into memory, then deflated (raw, per file)
by Python's zlib, zlib-ng (the ``zlib-ng`` package, not an fcslim dependency:
``pip install zlib-ng``) and ISA-L (``isal``, fcslim's codec) at several
levels, with 1 and 2 threads; each configuration runs twice (the best time is
kept, and both runs must give the same bytes).  bench/README.md has the table
that chose fcslim's codec.
"""
import hashlib
import os
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

from isal import isal_zlib

try:
    from zlib_ng import zlib_ng
except ImportError:  # optional: the comparison runs without it
    zlib_ng = None

IMPLS = {"zlib": zlib, "isal": isal_zlib, **({"zlib-ng": zlib_ng} if zlib_ng else {})}
CONFIGS = [("zlib", 6), ("zlib", 1), ("zlib-ng", 1), ("zlib-ng", 4), ("zlib-ng", 6), ("zlib-ng", 9),
           ("isal", 0), ("isal", 1), ("isal", 2), ("isal", 3)]


def files_of(top):
    out = []
    for d, _, fs in os.walk(top):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    out.sort()
    return out


def load(paths):
    return [open(p, "rb").read() for p in paths]


def one(mod, level, data):
    c = mod.compressobj(level, 8, -15)
    out = bytearray()
    for i in range(0, len(data), 1 << 20):
        out += c.compress(data[i:i + (1 << 20)])
    out += c.flush()
    return bytes(out)


def run(mod, level, blobs, threads):
    start = time.perf_counter()
    if threads == 1:
        outs = [one(mod, level, b) for b in blobs]
    else:
        with ThreadPoolExecutor(threads) as pool:
            outs = list(pool.map(lambda b: one(mod, level, b), blobs, chunksize=16))
    wall = time.perf_counter() - start
    digest = hashlib.sha256(b"".join(hashlib.sha256(o).digest() for o in outs)).hexdigest()[:16]
    return wall, sum(len(o) for o in outs), digest


def main():
    top = sys.argv[1]
    threads_list = [int(t) for t in (sys.argv[2] if len(sys.argv) > 2 else "1,2").split(",")]
    paths = files_of(top)
    blobs = load(paths)
    total = sum(len(b) for b in blobs)
    print(f"{len(paths)} files, {total / 2**20:.1f} MiB; zlib {zlib.ZLIB_RUNTIME_VERSION}, "
          f"zlib-ng {zlib_ng.ZLIBNG_VERSION if zlib_ng else 'not installed'}")
    base = None
    for name, level in CONFIGS:
        mod = IMPLS.get(name)
        if mod is None:
            continue
        for threads in threads_list:
            wall, size, digest = run(mod, level, blobs, threads)
            wall2, size2, digest2 = run(mod, level, blobs, threads)
            if base is None:
                base = size
            print(f"{name:8} L{level} threads={threads}: {min(wall, wall2):6.2f} s "
                  f"{total / 2**20 / min(wall, wall2):7.1f} MiB/s  {size / 2**20:7.2f} MiB "
                  f"({size / base - 1:+.1%} vs zlib 6)  repeat-same={digest == digest2} {digest}", flush=True)


if __name__ == "__main__":
    main()
