"""A fresh CI runner with a warm remote cache, against a cold build and a bare download.

    python bench/bench_remote.py [--sets data] [--runtime fc-python3.10] [--repeat 3] [--cache-url s3://bucket/prefix/]

For each requirement set (bench/sets.py, fully pinned), in one run:

1. **cold**: ``fcslim resolve`` with an empty local cache and an empty remote
   prefix (it builds, then writes the bundle back to the remote);
2. **warm, fresh runner** (``--repeat`` times, each with another empty local
   cache, the same remote): the bundle's parts come down in parallel, each
   checked against its SHA-256, every file is inflated from the stream the
   cold build made and checked, the streams are kept, the bundle is linked
   into the output and measured (compressing nothing);
3. **download**: the same objects (the bundle's parts) fetched alone to disk
   with the same client (s3fs) and the same parallelism, in a process of its
   own: the floor a restore can approach;
4. **untar**: GNU ``tar -xf`` of the restored bundle as a plain tar (its
   files' bytes, from the page cache) into an empty directory: what writing
   the tree alone costs on this disk, with nothing checked.  Download + untar
   is what a hand-made cache (``aws s3 cp`` and ``tar x``) would pay.

Medians of the repeats are printed, with the ratios warm/cold and
warm/download.  Without ``--cache-url`` the remote is an S3-compatible server
(moto, from the test extra) started on 127.0.0.1 for the run; with it, a real
bucket (the standard AWS_*/OSS_* variables supply credentials and endpoint).
The clean debootstrap roots used for in-target checks are linked in from the
normal cache, as bench/run.py does: they are the test machine, not part of a
build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sets import SETS  # noqa: E402

from fcslim.cache.location import cache_root  # noqa: E402


def start_loopback_s3() -> tuple[str, dict[str, str], object]:
    """moto on 127.0.0.1 with one bucket; returns (URL prefix, environment, server)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1", aws_access_key_id="bench",
                 aws_secret_access_key="bench").create_bucket(Bucket="fcslim-bench")
    return "s3://fcslim-bench/", env, server


def fresh_cache(work: Path, name: str) -> Path:
    cache = work / f"cache-{name}"
    cache.mkdir()
    roots = cache_root() / "roots"
    if roots.is_dir():
        (cache / "roots").symlink_to(roots, target_is_directory=True)
    return cache


def timed_build(requirements: Path, runtime: str, out: Path, env: dict[str, str]) -> tuple[float, dict]:
    argv = [sys.executable, "-m", "fcslim", "resolve", str(requirements), "--runtime", runtime, "-o", str(out),
            "--json", "-q"]
    started = time.monotonic()
    run = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if run.returncode not in (0, 9):  # 9: over a size limit, still built
        raise SystemExit(f"fcslim failed ({run.returncode}): {run.stderr[-2000:]}")
    return seconds, json.loads(run.stdout)


def tree_bytes(top: Path) -> int:
    return sum(p.stat().st_size for p in top.rglob("*") if p.is_file() and not p.is_symlink())


DOWNLOAD = """
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
from fcslim.cache.parts import AHEAD
from fcslim.cache.remote import ROOT, RemoteStore
remote = RemoteStore(sys.argv[1])
ref = json.loads(remote.fs.cat_file(remote.fs.find(remote.location.path(ROOT, "refs", "bundles"))[0]))
parts = ref.get("parts") or [[ref["sha256"], ref["size"]]]
started = time.monotonic()
with ThreadPoolExecutor(AHEAD) as pool:
    list(pool.map(lambda i: remote.fs.get_file(remote.cas_path(parts[i][0]), os.path.join(sys.argv[2], str(i))),
                  range(len(parts))))
print(json.dumps({"seconds": time.monotonic() - started, "bytes": ref["size"], "parts": len(parts)}))
"""


def download_seconds(url: str, env: dict[str, str], work: Path) -> tuple[float, int, int]:
    """Fetch the bundle's objects alone (a process of its own, like the builds), as the restore's floor."""
    target = Path(tempfile.mkdtemp(prefix="download-", dir=work))
    run = subprocess.run([sys.executable, "-c", DOWNLOAD, url, str(target)], env=env, capture_output=True,
                         text=True)
    if run.returncode:
        raise SystemExit(f"the bare download failed: {run.stderr[-2000:]}")
    got = json.loads(run.stdout)
    for part in target.iterdir():
        part.unlink()
    target.rmdir()
    return got["seconds"], got["bytes"], got["parts"]


def untar_seconds(tree: Path, work: Path) -> float:
    """GNU tar extracting ``tree`` (as an uncompressed tar) into an empty directory."""
    archive = work / "plain.tar"
    subprocess.run(["tar", "-C", str(tree), "-cf", str(archive), "."], check=True)
    subprocess.run(["cat", str(archive)], stdout=subprocess.DEVNULL, check=True)  # in the page cache, as parts are
    into = Path(tempfile.mkdtemp(prefix="untar-", dir=work))
    started = time.monotonic()
    subprocess.run(["tar", "-C", str(into), "-xf", str(archive)], check=True)
    seconds = time.monotonic() - started
    subprocess.run(["rm", "-rf", str(into), str(archive)], check=True)
    return seconds


def run_set(name: str, runtime: str, url: str, remote_env: dict[str, str], work: Path, repeat: int) -> dict:
    requirements = work / "requirements.txt"
    requirements.write_text(SETS[name].requirements_text())
    base = {k: v for k, v in os.environ.items() if not k.startswith("FCSLIM_CACHE")}
    base.update(remote_env)
    base["FCSLIM_CACHE_URL"] = url
    cold_env = dict(base, FCSLIM_CACHE_DIR=str(fresh_cache(work, "cold")))
    cold, _ = timed_build(requirements, runtime, work / "out-cold", cold_env)
    warm_runs, downloads, untars, stages = [], [], [], []
    for i in range(repeat):
        warm_env = dict(base, FCSLIM_CACHE_DIR=str(fresh_cache(work, f"warm{i}")))
        seconds, record = timed_build(requirements, runtime, work / f"out-warm{i}", warm_env)
        if not record.get("cached"):
            raise SystemExit("a fresh runner did not restore from the remote cache")
        warm_runs.append(seconds)
        stages.append(record.get("stage_seconds", {}))
        download, object_bytes, parts = download_seconds(url, dict(base, FCSLIM_CACHE_DIR=str(work / "none")), work)
        downloads.append(download)
        untars.append(untar_seconds(work / "out-warm0", work))
    warm, download = statistics.median(warm_runs), statistics.median(downloads)
    untar = statistics.median(untars)
    stage_names = sorted({k for s in stages for k in s}, key=lambda k: -statistics.median(s.get(k, 0) for s in stages))
    return {"set": name, "runtime": runtime, "cold_s": round(cold, 2), "warm_remote_s": round(warm, 2),
            "warm_runs_s": [round(x, 2) for x in warm_runs], "download_s": round(download, 2),
            "download_runs_s": [round(x, 2) for x in downloads], "untar_s": round(untar, 2),
            "untar_runs_s": [round(x, 2) for x in untars], "object_bytes": object_bytes, "parts": parts,
            "bundle_bytes": tree_bytes(work / "out-warm0"),
            "warm_over_cold": round(warm / cold, 3), "warm_over_download": round(warm / download, 1),
            "restore_over_download_untar": round(
                statistics.median(s.get("restored from the bundle cache", 0) for s in stages) / (download + untar), 2),
            "warm_stages_s": {k: round(statistics.median(s.get(k, 0) for s in stages), 2) for k in stage_names}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="data", help="comma-separated names from bench/sets.py")
    parser.add_argument("--runtime", default="fc-python3.10")
    parser.add_argument("--cache-url", default=None, help="a real remote (default: moto on loopback)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh runners (and bare downloads) per set")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    server = None
    if args.cache_url:
        base_url, remote_env = args.cache_url.rstrip("/") + "/", {}
    else:
        base_url, remote_env, server = start_loopback_s3()
    results = []
    try:
        for name in args.sets.split(","):
            with tempfile.TemporaryDirectory(prefix=f"fcslim-bench-remote-{name}-") as tmp:
                url = f"{base_url}bench-{uuid.uuid4().hex[:8]}/"
                results.append(run_set(name, args.runtime, url, remote_env, Path(tmp), args.repeat))
    finally:
        if server is not None:
            server.stop()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine = (f"{platform.platform()}, {os.cpu_count()} CPUs, load average {load:.1f} at the end, "
               f"remote {'moto on loopback' if server else args.cache_url}")
    print(f"machine: {machine}")
    print("| set | cold build | warm, fresh runner | its restore step | bare download | untar | warm / cold | "
          "warm / download | restore / (download + untar) | bundle | remote object |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        restore = r["warm_stages_s"].get("restored from the bundle cache", 0)
        print(f"| {r['set']} | {r['cold_s']:.2f} s | {r['warm_remote_s']:.2f} s | {restore:.2f} s | "
              f"{r['download_s']:.2f} s | {r['untar_s']:.2f} s | {r['warm_over_cold']:.2f}x | "
              f"{r['warm_over_download']:.1f}x | {r['restore_over_download_untar']:.2f}x | "
              f"{r['bundle_bytes'] / 2**20:.0f} MiB | {r['object_bytes'] / 2**20:.0f} MiB in {r['parts']} parts |")
    for r in results:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in r["warm_stages_s"].items() if v >= 0.01)
        print(f"{r['set']} warm runs {r['warm_runs_s']} s, downloads {r['download_runs_s']} s, "
              f"untars {r['untar_runs_s']} s; "
              f"warm stages (median): {stages}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
