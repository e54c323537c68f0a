"""Benchmark: what slimming saves, and what pycs do to cold starts.

For each package set of bench/sets.py (``data``: numpy pandas scipy; ``ml``:
opencv-python-headless pillow scikit-learn) installed for a runtime with a plain
``uv pip install --target``:

* bytes and zipped bytes of the plain install, of an SPR-style slim
  (serverless-python-requirements' ``slim``: delete __pycache__/*.pyc and every
  *.dist-info, ``strip`` every *.so), and of ``fcslim slim``; each checked with
  fcslim's import verification;
* cold-start import time on a read-only bundle (the clean Debian root mounts it
  read-only, as FC's /code is): no pycs, checked-hash pycs, unchecked-hash pycs,
  and sourceless pycs (--drop-sources).

Run:  python bench/bench_slim.py [--sets data,ml] [--runtime debian11-python3.9] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from fcslim.verify import rootfs
from fcslim.cache.location import cache_subdir
from fcslim.verify.bytecode import compile_bytecode
from fcslim.slim.apply import slim
from fcslim.slim.tree import tree_bytes
from fcslim.target.profile import load_profile
from fcslim.verify.imports import make_verifier, top_level_modules, NoVerifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sets import SETS as REQUIREMENT_SETS  # noqa: E402  (bench/sets.py: the sets every benchmark shares)

# set -> (packages to install, the cold-start import statement)
SETS = {
    "data": (list(REQUIREMENT_SETS["data"].top_level), "import numpy, pandas, scipy.stats"),
    "ml": (list(REQUIREMENT_SETS["ml"].top_level), "import cv2, PIL.Image, sklearn.linear_model"),
}


def install(packages: list[str], profile) -> Path:
    platform_tag = f"{profile.arch}-manylinux_{profile.glibc[0]}_{profile.glibc[1]}"
    dest = cache_subdir("bench-slim") / f"py{profile.python_version}-{'-'.join(packages)}"
    if (dest / ".complete").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["uv", "pip", "install", "--target", str(dest), "--python-version", profile.python_version,
                    "--python-platform", platform_tag, "--only-binary", ":all:", *packages],
                   check=True, capture_output=True)
    (dest / ".complete").write_text("ok\n")
    return dest


def zipped_bytes(root: Path) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not (Path(dirpath) == root and d == ".fcslim"))
            for f in sorted(filenames):
                p = Path(dirpath) / f
                if p.name == ".complete":
                    continue
                zf.write(p, p.relative_to(root).as_posix())
    return buf.tell()


def spr_slim(root: Path) -> None:
    for p in list(root.rglob("__pycache__")):
        shutil.rmtree(p, ignore_errors=True)
    for p in list(root.rglob("*.py[co]")):
        p.unlink(missing_ok=True)
    for p in list(root.glob("*.dist-info")):
        shutil.rmtree(p)
    so_files = [str(p) for p in root.rglob("*.so*") if p.is_file()]
    for i in range(0, len(so_files), 200):
        subprocess.run(["strip", *so_files[i:i + 200]], capture_output=True)


def import_check(root: Path, profile, verifier) -> str:
    if isinstance(verifier, NoVerifier):
        return f"not verified: {verifier.reason}"
    result = verifier.check(root, top_level_modules(root))
    return "all import" if not result.failed else "FAILS: " + ", ".join(result.failed)


def _describe(verified, baseline) -> str:
    if verified is None or not verified.checked:
        return verified.reason if verified else "not verified"
    if not verified.failed:
        return "all import"
    before = set(baseline.failed) if baseline else set()
    same = [m for m in verified.failed if m in before]
    new = [m for m in verified.failed if m not in before]
    text = f"fail before and after slimming: {', '.join(same)}" if same else ""
    return text + (f"; BROKEN BY SLIM: {', '.join(new)}" if new else "")


def cold_start(root: Path, profile, statement: str, repeat: int) -> float | None:
    """Median wall time of a fresh interpreter running ``statement`` with the
    bundle read-only at the code root of the clean root."""
    if rootfs.rootfs_support():
        return None
    chroot = rootfs.ensure_root(profile.debian.release, profile.debian_arch, mirror=profile.debian.mirror)
    code = ("import time; t = time.perf_counter(); " + statement +
            "; print('ELAPSED', time.perf_counter() - t)")
    times = []
    for _ in range(repeat):
        res = rootfs.run_in_root(chroot, ["python3", "-c", code], binds={str(root): profile.code_root},
                                 env=rootfs.runtime_env(profile))
        line = [l for l in res.stdout.splitlines() if l.startswith("ELAPSED")]
        if res.returncode != 0 or not line:
            return None
        times.append(float(line[0].split()[1]))
    return statistics.median(times)


def bench_set(name: str, profile, repeat: int) -> dict:
    packages, statement = SETS[name]
    plain_src = install(packages, profile)
    verifier = make_verifier(profile)
    work = Path(tempfile.mkdtemp(prefix=f"bench-slim-{name}-"))
    try:
        row: dict = {"set": name, "packages": packages, "runtime": profile.name}
        plain = work / "plain"
        shutil.copytree(plain_src, plain, symlinks=True, ignore=shutil.ignore_patterns(".complete"))
        row["plain"] = {"bytes": tree_bytes(plain), "zipped": zipped_bytes(plain)}

        spr = work / "spr"
        shutil.copytree(plain, spr, symlinks=True)
        spr_slim(spr)
        row["spr_style"] = {"bytes": tree_bytes(spr), "zipped": zipped_bytes(spr),
                            "imports": import_check(spr, profile, verifier)}

        ours = work / "fcslim"
        shutil.copytree(plain, ours, symlinks=True)
        t = time.perf_counter()
        result = slim(ours, profile)
        row["fcslim"] = {"bytes": result.after_bytes, "zipped": zipped_bytes(ours),
                         "seconds": round(time.perf_counter() - t, 1),
                         "verification_runs": result.verification_runs,
                         "rolled_back": [rb.to_dict() for rb in result.rolled_back],
                         "imports": _describe(result.verified, result.baseline),
                         "rules": {r.name: r.bytes for r in result.rules}}
        for key in ("spr_style", "fcslim"):
            row[key]["ratio"] = round(row[key]["bytes"] / row["plain"]["bytes"], 3)
            row[key]["zipped_ratio"] = round(row[key]["zipped"] / row["plain"]["zipped"], 3)

        cold = {"no_pycs": cold_start(ours, profile, statement, repeat)}
        for mode in ("checked-hash", "unchecked-hash"):
            variant = work / f"pyc-{mode}"
            shutil.copytree(ours, variant, symlinks=True)
            compile_bytecode(variant, profile, invalidation_mode=mode)
            cold[mode] = cold_start(variant, profile, statement, repeat)
            cold[f"{mode}_bytes"] = tree_bytes(variant)
            cold[f"{mode}_zipped"] = zipped_bytes(variant)
            if mode == "unchecked-hash":
                shutil.rmtree(variant)
        sourceless = work / "pyc-sourceless"
        shutil.copytree(ours, sourceless, symlinks=True)
        compile_bytecode(sourceless, profile, drop_sources=True)
        cold["sourceless"] = cold_start(sourceless, profile, statement, repeat)
        cold["sourceless_bytes"] = tree_bytes(sourceless)
        cold["sourceless_zipped"] = zipped_bytes(sourceless)
        cold["statement"] = statement
        row["cold_start_seconds"] = cold
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="data,ml")
    ap.add_argument("--runtime", default="debian11-python3.9")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args(argv)
    profile = load_profile(args.runtime)
    rows = [bench_set(s, profile, args.repeat) for s in args.sets.split(",")]
    for row in rows:
        mb = lambda n: f"{n / 1e6:7.1f} MB"
        print(f"== {row['set']} ({', '.join(row['packages'])}) for {row['runtime']}")
        print(f"  plain uv      {mb(row['plain']['bytes'])}  zipped {mb(row['plain']['zipped'])}")
        for key in ("spr_style", "fcslim"):
            r = row[key]
            print(f"  {key:<13} {mb(r['bytes'])}  zipped {mb(r['zipped'])}  ({r['ratio']:.3f}x / "
                  f"{r['zipped_ratio']:.3f}x zipped)  imports: {r['imports']}")
        c = row["cold_start_seconds"]
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}s"
        print(f"  cold start `{c['statement']}`: no pycs {fmt(c['no_pycs'])}, checked-hash {fmt(c['checked-hash'])}, "
              f"unchecked-hash {fmt(c['unchecked-hash'])}, sourceless {fmt(c['sourceless'])}")
        print(f"  with pycs: {mb(c['checked-hash_bytes'])} (zipped {mb(c['checked-hash_zipped'])}); "
              f"sourceless: {mb(c['sourceless_bytes'])} (zipped {mb(c['sourceless_zipped'])})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
