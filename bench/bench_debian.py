"""The Debian stage against the real archive: locating and downloading the
packages of a few sonames cold (empty cache) and warm (every read verified:
each .deb hashed against its signed SHA256, each parsed index against its own
digest), what that verification costs, and downloads through fcslim's HTTP
helper (urllib3, one kept-alive connection) against plain urllib (a connection
per file).

    python bench/bench_debian.py [--runtime debian11-python3.9] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fcslim.cache.store import Cache  # noqa: E402
from fcslim.core import http  # noqa: E402
from fcslim.core.hashing import file_sha256  # noqa: E402
from fcslim.debian.archive import DebianRelease  # noqa: E402
from fcslim.debian.store import BLOB_NAMESPACE, INDEX_NAMESPACE  # noqa: E402
from fcslim.target.profile import load_profile  # noqa: E402

SONAMES = ("libzbar.so.0", "libmagic.so.1", "libjpeg.so.62", "libpng16.so.16", "libxml2.so.2",
           "libgomp.so.1", "libffi.so.7", "libexpat.so.1", "libfreetype.so.6", "libtiff.so.5")


def _fetch_all(profile, root: Path) -> tuple[float, list]:
    started = time.perf_counter()
    release = DebianRelease.for_profile(profile, cache_root=root)
    packages = [release.locate(s).package for s in SONAMES]
    for package in packages:
        release.download(package)
    return time.perf_counter() - started, packages


def _urllib(urls: list[str], tmp: Path) -> None:
    for index, url in enumerate(urls):
        with urllib.request.urlopen(url, timeout=30) as response, open(tmp / f"u{index}", "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)


def _helper(urls: list[str], tmp: Path) -> None:
    for index, url in enumerate(urls):
        http.download(url, tmp / f"h{index}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", default="debian11-python3.9")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    profile = load_profile(args.runtime)
    with tempfile.TemporaryDirectory(prefix="fcslim-bench-debian-") as tmp:
        root = Path(tmp) / "cache"
        cold, packages = _fetch_all(profile, root)
        warm = statistics.median(_fetch_all(profile, root)[0] for _ in range(args.rounds))
        entries = Cache(BLOB_NAMESPACE, root, kind="blob").entries() + Cache(INDEX_NAMESPACE, root).entries()
        started = time.perf_counter()
        for entry in entries:
            file_sha256(entry.path)
        hashing = time.perf_counter() - started
        deb_bytes = sum(p.size for p in packages)
        urls = [p.url for p in packages]
        scratch = Path(tmp) / "dl"
        scratch.mkdir()
        plain = statistics.median(_timed(_urllib, urls, scratch) for _ in range(args.rounds))
        pooled = statistics.median(_timed(_helper, urls, scratch) for _ in range(args.rounds))
    print(f"{args.runtime}: {len(SONAMES)} sonames, {len(packages)} packages, {deb_bytes / 2**20:.1f} MiB of .deb")
    print(f"cold (empty cache: Release, Packages, Contents, parse, .debs): {cold:.2f} s")
    print(f"warm (median of {args.rounds}; Release by conditional GET, every entry verified): {warm:.2f} s")
    print(f"  of which hashing every cached entry once ({sum(e.size for e in entries) / 2**20:.1f} MiB): "
          f"{hashing:.2f} s")
    print(f"downloading the {len(urls)} .debs (median of {args.rounds}): urllib {plain:.2f} s, "
          f"fcslim.core.http {pooled:.2f} s")


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
