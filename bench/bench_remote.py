"""A fresh CI runner with a warm remote cache, against a cold build.

    python bench/bench_remote.py [--sets data] [--runtime fc-python3.10] [--cache-url s3://bucket/prefix/]

For each requirement set (bench/sets.py, fully pinned):

1. **cold**: ``fcslim resolve`` with an empty local cache and an empty remote
   prefix (it builds, then writes the bundle back to the remote);
2. **warm remote**: a second "runner": another empty local cache, same remote
   (the bundle comes down as one object, is verified byte for byte, unpacked
   into the local cache and linked into the output);
3. **download**: the same object fetched alone with the same client (s3fs),
   to a file: the floor a restore can approach.

Without ``--cache-url`` the remote is an S3-compatible server (moto, from the
test extra) started on 127.0.0.1 for the run; with it, a real bucket (the
standard AWS_*/OSS_* variables supply credentials and endpoint).  The clean
debootstrap roots used for in-target checks are linked in from the normal
cache, as bench/run.py does: they are the test machine, not part of a build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from fcslim.cache.remote import ROOT, RemoteStore  # noqa: E402


def start_loopback_s3() -> tuple[str, dict[str, str], object]:
    """moto on 127.0.0.1 with one bucket; returns (URL prefix, environment, server)."""
    import boto3
    from moto.server import ThreadedMotoServer

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


def download_seconds(url: str, env: dict[str, str], work: Path) -> tuple[float, int]:
    """Fetch the bundle object alone, as the restore's floor."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        remote = RemoteStore(url)
        refs = remote.fs.find(remote.location.path(ROOT, "refs", "bundles"))
        ref = json.loads(remote.fs.cat_file(refs[0]))
        target = work / "download.bin"
        started = time.monotonic()
        remote.fs.get_file(remote.cas_path(ref["sha256"]), str(target))
        return time.monotonic() - started, target.stat().st_size
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_set(name: str, runtime: str, url: str, remote_env: dict[str, str], work: Path) -> dict:
    requirements = work / "requirements.txt"
    requirements.write_text(SETS[name].requirements_text())
    base = {k: v for k, v in os.environ.items() if not k.startswith("FCSLIM_CACHE")}
    base.update(remote_env)
    base["FCSLIM_CACHE_URL"] = url
    cold_env = dict(base, FCSLIM_CACHE_DIR=str(fresh_cache(work, "cold")))
    cold, _ = timed_build(requirements, runtime, work / "out-cold", cold_env)
    warm_env = dict(base, FCSLIM_CACHE_DIR=str(fresh_cache(work, "warm")))
    warm, record = timed_build(requirements, runtime, work / "out-warm", warm_env)
    if not record.get("cached"):
        raise SystemExit("the second runner did not restore from the remote cache")
    download, object_bytes = download_seconds(url, remote_env, work)
    return {"set": name, "runtime": runtime, "cold_s": round(cold, 2), "warm_remote_s": round(warm, 2),
            "download_s": round(download, 2), "object_bytes": object_bytes,
            "bundle_bytes": tree_bytes(work / "out-warm"),
            "warm_over_cold": round(warm / cold, 3), "warm_minus_download_s": round(warm - download, 2),
            "warm_stages_s": record.get("stage_seconds", {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="data", help="comma-separated names from bench/sets.py")
    parser.add_argument("--runtime", default="fc-python3.10")
    parser.add_argument("--cache-url", default=None, help="a real remote (default: moto on loopback)")
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
                results.append(run_set(name, args.runtime, url, remote_env, Path(tmp)))
    finally:
        if server is not None:
            server.stop()
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs, remote {'loopback moto' if server else args.cache_url}"
    print(f"machine: {machine}")
    print("| set | cold | warm (fresh runner, warm remote) | download alone | warm / cold | bundle | object |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['set']} | {r['cold_s']} s | {r['warm_remote_s']} s | {r['download_s']} s | "
              f"{r['warm_over_cold']}x | {r['bundle_bytes'] / 2**20:.0f} MiB | {r['object_bytes'] / 2**20:.0f} MiB |")
    for r in results:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in r["warm_stages_s"].items() if v >= 0.05)
        print(f"{r['set']} warm stages: {stages}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
