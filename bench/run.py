"""The fcslim benchmark: fcslim against `pip install -t` and `uv pip install --target`.

One command, every claim::

    python bench/run.py [--sets small,data,ml] [--runtimes fc-python3.10,debian11-python3.9] [--json bench/results.json]

For each runtime, each requirement set (bench/sets.py, fully pinned for the
runtime's Python) and each tool it runs a *cold* build (empty caches, empty
output) and then a *warm* one (same caches, empty output, same input), and
measures:

* wall time of the command;
* peak memory: the largest resident set of any process in the command's tree
  (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by a fresh wrapper process
  that runs only that command);
* unzipped bytes, zipped bytes and file count of the output tree, leaving out
  fcslim's ``.fcslim/`` records as packing does.  Every tool's tree is measured
  the same way: the exact size of the zip fcslim would write of it (fcslim's own
  deflate, ISA-L level 3, in a stream store private to the run).

The tools:

* ``pip``: ``pip install -t OUT --platform <each manylinux tag the runtime
  accepts> --python-version X.Y --implementation cp --abi cpXY
  --only-binary=:all:``; cold = a fresh ``--cache-dir``;
* ``uv``: ``uv pip install --target OUT --python-version X.Y --python-platform
  <arch>-manylinux_<glibc> --only-binary :all:``; cold = a fresh ``--cache-dir``;
* ``fcslim-install``: the install stage alone, ``fcslim resolve ... --no-fetch
  --no-slim --no-verify --no-cache --no-gate`` (install and measure);
* ``fcslim``: ``fcslim resolve req.txt --runtime R --output OUT`` (its whole
  default pipeline, whatever stages it has); cold = a fresh ``FCSLIM_CACHE_DIR``
  (so uv's wheel cache, Debian indexes and packages, slim results and bundles
  all start empty) *except* the clean debootstrap roots used for in-target
  checks, which are linked in from the normal cache: they are the test
  machine, not part of any build, and take minutes to make once per machine.

A runtime whose Debian mirror this machine cannot reach (FC python3.10 lives
on archive.debian.org) is built with ``--no-fetch``, and the table says so.

Nothing else is shared between tools or sets: each set gets a fresh work
directory.  Tool or index configuration from the environment (PIP_*, UV_*
index settings, pip.conf) applies to all tools alike; only cache locations are
overridden.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sets import SETS  # noqa: E402

TOOLS = ("pip", "uv", "fcslim-install", "fcslim")
DEFAULT_TOOLS = ("uv", "fcslim-install", "fcslim")
BASELINES = ("pip", "uv")
INSTALL_ONLY = ["--no-fetch", "--no-slim", "--no-verify", "--no-cache", "--no-gate"]
PHASES = ("cold", "warm")
RECORDS_DIR = ".fcslim"

# Runs one command, then reports its wall time, the peak RSS of its process
# tree and the CPU seconds (user + system) of every process in it.  A fresh
# interpreter per command, so RUSAGE_CHILDREN covers exactly it.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
out, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
with open(out + ".log", "wb") as log:
    proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as handle:
    json.dump({"returncode": proc.returncode, "wall_s": wall, "peak_rss_bytes": usage.ru_maxrss * 1024,
               "cpu_s": usage.ru_utime + usage.ru_stime}, handle)
"""


@dataclass
class Measurement:
    set: str
    runtime: str
    tool: str
    phase: str
    command: list[str]
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    unzipped_bytes: int | None = None
    zipped_bytes: int | None = None
    files: int | None = None
    same_as_cold: bool | None = None
    log_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# ------------------------------------------------------------------ measuring trees


def _tree_files(top: Path) -> list[tuple[str, Path]]:
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != RECORDS_DIR]
        for d in list(dirnames):  # symlinked directories are files in a zip
            if os.path.islink(os.path.join(dirpath, d)):
                filenames.append(d)
                dirnames.remove(d)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            found.append((rel.replace(os.sep, "/"), Path(dirpath, name)))
    found.sort()
    return found


def measure_tree(top: Path, streams: Path) -> dict[str, int]:
    """Unzipped bytes, the exact zipped bytes of fcslim's zip of the tree, and
    the file count, without .fcslim/ (links followed, as packing does)."""
    from fcslim.pack.archive import zip_size
    from fcslim.pack.deflate import codec, deflate_files
    from fcslim.pack.streams import StreamStore

    files = [(rel, path) for rel, path in _tree_files(top) if path.is_file()]
    facts = deflate_files([path for _, path in files], store=StreamStore(codec(), streams))
    entries = [(rel, f.size, f.stored_size) for (rel, _), (f, _ref) in zip(files, facts)]
    return {"unzipped_bytes": sum(e[1] for e in entries), "zipped_bytes": zip_size(entries), "files": len(files)}


def tree_signature(top: Path) -> list[tuple[str, int]]:
    return [(rel, 0 if path.is_symlink() else path.stat().st_size) for rel, path in _tree_files(top)]


# ------------------------------------------------------------------ commands


def tool_command(tool: str, requirements: Path, output: Path, cache: Path, profile, fcslim_args: list[str]
                 ) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    # PYTHONDONTWRITEBYTECODE (set on some CI machines) would make every
    # Python tool compile its own source at each run: an installed tool has
    # its bytecode cached, so the benchmark lets it (see prepare_tools).
    for name in ("PIP_CACHE_DIR", "UV_CACHE_DIR", "FCSLIM_CACHE_DIR", "PIP_TARGET", "UV_LINK_MODE",
                 "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    pyver = profile.python_version
    if tool == "pip":
        argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-input", "--cache-dir", str(cache), "-t", str(output)]
        for plat in profile.platforms:
            if plat.startswith("manylinux"):
                argv += ["--platform", plat]
        argv += ["--python-version", pyver, "--implementation", profile.implementation,
                 "--abi", profile.abi, "--only-binary=:all:", "-r", str(requirements)]
    elif tool == "uv":
        uv = shutil.which("uv") or "uv"
        glibc = f"{profile.glibc[0]}_{profile.glibc[1]}"
        argv = [uv, "pip", "install", "--quiet", "--cache-dir", str(cache), "--target", str(output),
                "--python-version", pyver, "--python-platform", f"{profile.arch}-manylinux_{glibc}",
                "--only-binary", ":all:", "-r", str(requirements)]
    elif tool in ("fcslim", "fcslim-install"):
        env["FCSLIM_CACHE_DIR"] = str(cache)
        # --no-gate: a benchmark measures; a set over the runtime's zip limit
        # (ml on FC's 100 MB API upload) is still a build to time.
        stage = INSTALL_ONLY if tool == "fcslim-install" else ["--no-gate", *fcslim_args]
        # A profile file is passed by its path (its name is not a built-in runtime).
        runtime = profile.source if profile.source not in ("built-in", "") else profile.name
        argv = [sys.executable, "-m", "fcslim", "resolve", str(requirements), "--runtime", runtime,
                "--output", str(output), *stage]
    else:
        raise ValueError(tool)
    return argv, env


def prepare_tools() -> None:
    """Byte-compile fcslim once, as an installed package has it."""
    import compileall

    import fcslim

    compileall.compile_dir(str(Path(fcslim.__file__).parent), quiet=1)


def prepare_cache(tool: str, cache: Path, real_roots: Path | None) -> None:
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    if tool.startswith("fcslim") and real_roots is not None and real_roots.is_dir():
        (cache / "roots").symlink_to(real_roots, target_is_directory=True)


def run_measured(argv: list[str], env: dict[str, str], result_file: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, "-c", _WRAPPER, str(result_file), *argv], env=env, check=True)
    data = json.loads(result_file.read_text())
    log = Path(str(result_file) + ".log").read_text(errors="replace").strip().splitlines()
    data["log_tail"] = "\n".join(log[-15:])
    return data


def _run_once(set_name: str, tool: str, phase: str, requirements: Path, set_dir: Path, cache: Path, profile, fcslim_args,
              label: str, echo) -> tuple[Measurement, Path]:
    output = set_dir / f"{tool}-out"
    if output.exists():
        shutil.rmtree(output)
    argv, env = tool_command(tool, requirements, output, cache, profile, fcslim_args)
    echo(f"[{label}] {tool} {phase} ...")
    raw = run_measured(argv, env, set_dir / f"{tool}-{phase}.json")
    m = Measurement(set=set_name, runtime=profile.name, tool=tool, phase=phase, command=argv,
                    returncode=raw["returncode"], wall_s=raw["wall_s"], peak_rss_bytes=raw["peak_rss_bytes"],
                    log_tail=raw["log_tail"])
    if not m.ok:
        echo(f"[{label}] {tool} {phase} FAILED (exit {m.returncode}):\n{m.log_tail}")
    echo(f"[{label}] {tool} {phase}: {m.wall_s:.2f} s, {_mib(m.peak_rss_bytes)} peak")
    return m, output


def _combine(runs: list[Measurement]) -> Measurement:
    """One row for a tool and phase run several times: the median wall time,
    the largest peak memory, every run's figures in ``extra``."""
    ok = [m for m in runs if m.ok]
    first = ok[0] if ok else runs[0]
    if len(runs) == 1:
        return first
    failed = next((m for m in runs if not m.ok), None)
    row = Measurement(**{**asdict(first), "extra": {}})
    row.returncode = failed.returncode if failed else 0
    row.log_tail = failed.log_tail if failed else first.log_tail
    row.wall_s = statistics.median(m.wall_s for m in runs)
    row.peak_rss_bytes = max(m.peak_rss_bytes for m in runs)
    row.extra = {"wall_runs": [round(m.wall_s, 4) for m in runs], "rss_runs": [m.peak_rss_bytes for m in runs]}
    return row


def run_set(set_name: str, tools: list[str], profile, work: Path, real_roots: Path | None,
            fcslim_args: list[str], pinned: bool, echo, repeat: int = 1) -> list[Measurement]:
    """Every tool cold then warm, ``repeat`` rounds (the tools take turns in
    each round, so a machine growing slower or faster weighs on all alike).
    Each round starts one tool later than the last: a tool's runs follow the
    deletion of the tool before it, and on a disk a large deletion slows the
    next install's file creation (ext4 skips recently freed inodes), so no
    tool always follows the same one."""
    req_set = SETS[set_name]
    set_dir = work / profile.name / set_name
    set_dir.mkdir(parents=True, exist_ok=True)
    requirements = set_dir / "requirements.txt"
    requirements.write_text(req_set.requirements_text(pinned, profile.python_version))
    streams = work / "streams"
    label = f"{profile.name} {set_name}"
    runs: dict[tuple[str, str], list[Measurement]] = {(t, p): [] for t in tools for p in PHASES}
    sizes: dict[tuple[str, str], dict[str, Any]] = {}
    same: dict[str, bool] = {}
    for round_number in range(repeat):
        turn = round_number % len(tools)
        for tool in tools[turn:] + tools[:turn]:
            cache = set_dir / f"{tool}-cache"
            prepare_cache(tool, cache, real_roots)
            cold_signature = None
            for phase in PHASES:
                m, output = _run_once(set_name, tool, phase, requirements, set_dir, cache, profile, fcslim_args, label, echo)
                if m.ok and output.is_dir():
                    signature = tree_signature(output)
                    if phase == "cold":
                        cold_signature = signature
                    else:
                        same[tool] = same.get(tool, True) and signature == cold_signature
                    if (tool, phase) not in sizes and (phase == "cold" or signature != cold_signature):
                        sizes[(tool, phase)] = measure_tree(output, streams)
                runs[(tool, phase)].append(m)
                if output.exists():
                    shutil.rmtree(output)
            shutil.rmtree(cache, ignore_errors=True)
    results: list[Measurement] = []
    for tool in tools:
        for phase in PHASES:
            row = _combine(runs[(tool, phase)])
            if phase == "warm" and tool in same:
                row.same_as_cold = same[tool]
            row.__dict__.update(sizes.get((tool, phase)) or sizes.get((tool, "cold")) or {})
            results.append(row)
    return results


# ------------------------------------------------------------------ reporting


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / (1 << 20):.1f} MiB"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


METRICS = ("wall_s", "peak_rss_bytes", "unzipped_bytes", "zipped_bytes", "files")


def ratios(results: list[Measurement]) -> list[dict[str, Any]]:
    """For every measurement, each metric divided by each baseline's (same
    runtime, set and phase)."""
    index = {(m.runtime, m.set, m.tool, m.phase): m for m in results}
    rows = []
    for m in results:
        if not m.ok:
            continue
        row: dict[str, Any] = {"runtime": m.runtime, "set": m.set, "tool": m.tool, "phase": m.phase}
        for base in BASELINES:
            b = index.get((m.runtime, m.set, base, m.phase))
            if base == m.tool or b is None or not b.ok:
                continue
            row[f"vs_{base}"] = {k: _ratio(getattr(m, k), getattr(b, k)) for k in METRICS}
        cold = index.get((m.runtime, m.set, m.tool, "cold"))
        if m.phase == "warm" and cold is not None and cold.ok:
            row["warm_over_cold"] = _ratio(m.wall_s, cold.wall_s)
        rows.append(row)
    return rows


def _wall(m: Measurement) -> str:
    runs = m.extra.get("wall_runs") or []
    if len(runs) < 2:
        return f"{m.wall_s:.2f} s"
    return f"{m.wall_s:.2f} s ({min(runs):.2f}-{max(runs):.2f})"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _markdown(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def render_table(results: list[Measurement]) -> str:
    """The measurements with their wall-time ratio to uv (same runtime, set and
    phase), then every metric's ratio to each baseline."""
    ratio_rows = ratios(results)
    by_key = {(r["runtime"], r["set"], r["tool"], r["phase"]): r for r in ratio_rows}
    header = ["runtime", "set", "tool", "phase", "wall", "vs uv", "peak RSS", "unzipped", "zipped", "files",
              "warm/cold"]
    rows = [header]
    for m in results:
        if not m.ok:
            rows.append([m.runtime, m.set, m.tool, m.phase, f"FAILED (exit {m.returncode})"]
                        + [""] * (len(header) - 5))
            continue
        r = by_key.get((m.runtime, m.set, m.tool, m.phase), {})
        vs_uv = (r.get("vs_uv") or {}).get("wall_s")
        rows.append([
            m.runtime, m.set, m.tool, m.phase, _wall(m), _fmt_ratio(vs_uv), _mib(m.peak_rss_bytes),
            _mib(m.unzipped_bytes), _mib(m.zipped_bytes), "-" if m.files is None else str(m.files),
            _fmt_ratio(r.get("warm_over_cold")),
        ])
    ratio_table = [["runtime", "set", "tool", "phase", "vs", "wall", "peak RSS", "unzipped", "zipped", "files"]]
    for r in ratio_rows:
        for base in BASELINES:
            vs = r.get(f"vs_{base}")
            if vs:
                ratio_table.append([r["runtime"], r["set"], r["tool"], r["phase"], base]
                                   + [_fmt_ratio(vs[k]) for k in METRICS])
    text = _markdown(rows)
    if len(ratio_table) > 1:
        text += ("\n\nRatios (this tool's value / the baseline's, same runtime, set and phase; below 1x is "
                 "smaller or faster):\n\n")
        text += _markdown(ratio_table)
    return text


def mirror_reachable(profile, timeout: float = 10.0) -> bool:
    """Whether the profile's Debian mirror answers for its release."""
    import urllib.request

    url = f"{profile.debian.mirror.rstrip('/')}/dists/{profile.debian.release}/InRelease"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except Exception:  # any failure: not reachable from here
        return False


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict[str, Any]:
    import fcslim

    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.platform(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "fcslim": fcslim.__version__,
        "pip": _version([sys.executable, "-m", "pip", "--version"]).split(" from ")[0],
        "uv": _version([shutil.which("uv") or "uv", "--version"]),
        "machine": _machine_line(),
    }


def _machine_line() -> str:
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
    except OSError:
        model = platform.processor()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({model}), load average {load:.1f} at the start"


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    from fcslim.cache.location import cache_root
    from fcslim.target.profile import load_profile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="small,data,ml", help="comma-separated: " + ",".join(SETS))
    parser.add_argument("--tools", default=",".join(DEFAULT_TOOLS), help="comma-separated: " + ",".join(TOOLS))
    parser.add_argument("--runtimes", "--runtime", dest="runtimes", default="fc-python3.10,debian11-python3.9",
                        help="comma-separated fcslim runtime names or profile files")
    parser.add_argument("--json", dest="json_path", type=Path, default=HERE / "results.json",
                        help="where to write the results (default: bench/results.json)")
    parser.add_argument("--work", type=Path, default=None,
                        help="work directory for outputs and caches (default: a temporary directory)")
    parser.add_argument("--unpinned", action="store_true",
                        help="install the sets' top-level names instead of their full pins")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run every tool cold and warm N times, taking turns; rows give the median wall "
                             "time and the largest peak memory, the JSON every run")
    parser.add_argument("--fcslim-arg", action="append", default=[], metavar="ARG",
                        help="an extra argument for `fcslim resolve` (repeatable)")
    args = parser.parse_args(argv)

    sets = [s for s in args.sets.split(",") if s]
    tools = [t for t in args.tools.split(",") if t]
    for name in sets:
        if name not in SETS:
            parser.error(f"unknown set {name!r}; known: {', '.join(SETS)}")
    for tool in tools:
        if tool not in TOOLS:
            parser.error(f"unknown tool {tool!r}; known: {', '.join(TOOLS)}")
    profiles = [load_profile(r) for r in args.runtimes.split(",") if r]
    real_roots = cache_root() / "roots"

    def echo(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    prepare_tools()
    if not real_roots.is_dir():
        echo(f"no clean roots in {real_roots} (FCSLIM_CACHE_DIR names the cache they are taken from): the first cold "
             "fcslim build of each Debian release makes its root, minutes counted in that build's time")
    no_fetch = [p.name for p in profiles if not mirror_reachable(p)]
    for name in no_fetch:
        echo(f"{name}: its Debian mirror is not reachable from here; fcslim runs with --no-fetch")
    machine = environment()

    own_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="fcslim-bench-")) if own_work else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    command = "python bench/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    results: list[Measurement] = []
    try:
        for profile in profiles:
            extra = args.fcslim_arg + (["--no-fetch"] if profile.name in no_fetch else [])
            for name in sets:
                results += run_set(name, tools, profile, work, real_roots if real_roots.is_dir() else None,
                                   extra, not args.unpinned, echo, max(1, args.repeat))
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)

    table = render_table(results)
    notes = [f"{name}: built with --no-fetch (its Debian mirror is not reachable here)" for name in no_fetch]
    print(f"Machine: {machine['machine']}; Python {machine['python']}, {machine['uv']}, fcslim {machine['fcslim']}")
    print(table)
    if args.repeat > 1:
        print(f"wall: the median of {args.repeat} runs (min-max in brackets); peak RSS: the largest of them")
    for note in notes:
        print(note)
    document = {
        "schema": 2,
        "command": command,
        "repeat": max(1, args.repeat),
        "runtimes": [p.name for p in profiles],
        "environment": machine,
        "notes": notes,
        "sets": {f"{p.name} {name}": SETS[name].requirements_text(not args.unpinned, p.python_version).split()
                 for p in profiles for name in sets},
        "results": [asdict(m) for m in results],
        "ratios": ratios(results),
        "table": table,
    }
    if args.json_path:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps(document, indent=2) + "\n")
        echo(f"results written to {args.json_path}")
    return 0 if all(m.ok for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
