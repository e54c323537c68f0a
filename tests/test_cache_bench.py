"""The benchmark's own measuring code (bench/run.py): tree sizes, zips, ratios."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import importlib.util

import pytest

from fcslim.pack.archive import pack

_spec = importlib.util.spec_from_file_location(
    "fcslim_bench_run", Path(__file__).resolve().parents[1] / "bench" / "run.py")
run = importlib.util.module_from_spec(_spec)
sys.modules["fcslim_bench_run"] = run  # dataclasses look their module up by name
_spec.loader.exec_module(run)


def test_measure_tree_matches_a_real_zip_and_skips_records(tmp_path):
    top = tmp_path / "bundle"
    (top / "pkg").mkdir(parents=True)
    (top / "pkg" / "a.py").write_text("print('hello')\n" * 200)
    (top / "pkg" / "blob.bin").write_bytes(os.urandom(50_000))
    (top / "lib").mkdir()
    (top / "lib" / "libx.so.1.0").write_bytes(b"\0" * 10_000)
    (top / "lib" / "libx.so.1").symlink_to("libx.so.1.0")
    (top / ".fcslim").mkdir()
    (top / ".fcslim" / "install.json").write_text("{}" * 1000)
    measured = run.measure_tree(top, tmp_path / "streams")
    assert measured["files"] == 4  # the link is stored as a copy, as fcslim packs it
    assert measured["unzipped_bytes"] == 3000 + 50_000 + 2 * 10_000
    out = pack(top, tmp_path / "real.zip", "code", manifest=False)
    assert measured["zipped_bytes"] == out.archives[0].size == (tmp_path / "real.zip").stat().st_size
    with zipfile.ZipFile(tmp_path / "real.zip") as archive:
        assert ".fcslim/install.json" not in archive.namelist()


def test_ratios_against_each_baseline():
    def m(tool, phase, wall, size):
        return run.Measurement(set="s", runtime="r", tool=tool, phase=phase, command=[], returncode=0, wall_s=wall,
                               peak_rss_bytes=100, unzipped_bytes=size, zipped_bytes=size // 2, files=10)

    results = [m("pip", "cold", 10.0, 1000), m("uv", "cold", 4.0, 800), m("fcslim", "cold", 8.0, 400),
               m("fcslim", "warm", 0.4, 400)]
    rows = {(r["tool"], r["phase"]): r for r in run.ratios(results)}
    assert rows[("fcslim", "cold")]["vs_pip"]["wall_s"] == pytest.approx(0.8)
    assert rows[("fcslim", "cold")]["vs_uv"]["unzipped_bytes"] == pytest.approx(0.5)
    assert rows[("fcslim", "warm")]["warm_over_cold"] == pytest.approx(0.05)
    assert "vs_pip" not in rows[("fcslim", "warm")]  # no warm pip run to compare with
    table = run.render_table(results)
    assert "0.80x" in table and "0.05x" in table


def test_each_round_starts_one_tool_later(tmp_path, monkeypatch):
    """A tool's runs follow the previous tool's deletion: rounds rotate the
    order, so no tool always runs right after the same one."""
    from fcslim.target.profile import load_profile

    ran = []

    def run_once(set_name, tool, phase, requirements, set_dir, cache, profile, fcslim_args, label, echo):
        ran.append((tool, phase))
        return run.Measurement(set_name, profile.name, tool, phase, [], 0, 1.0, 1), set_dir / "none"

    monkeypatch.setattr(run, "_run_once", run_once)
    rows = run.run_set("small", ["uv", "fcslim-install", "fcslim"], load_profile("fc-python3.10"), tmp_path,
                       None, [], True, lambda line: None, repeat=3)
    colds = [tool for tool, phase in ran if phase == "cold"]
    assert colds == ["uv", "fcslim-install", "fcslim", "fcslim-install", "fcslim", "uv",
                     "fcslim", "uv", "fcslim-install"]
    assert [(r.tool, r.phase) for r in rows][:2] == [("uv", "cold"), ("uv", "warm")]  # rows in the tools' order
    assert all(len(r.extra["wall_runs"]) == 3 for r in rows)


def test_run_measured_counts_the_cpu_of_the_whole_process_tree(tmp_path):
    """The wrapper's CPU seconds are the command's and its children's: a
    child that spins for 0.2 s of CPU shows at least that; a command that
    sleeps shows little CPU for its wall time."""
    spin = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time\\nwhile time.process_time() < 0.2: pass'], check=True)")
    busy = run.run_measured([sys.executable, "-c", spin], dict(os.environ), tmp_path / "busy.json")
    assert busy["returncode"] == 0 and busy["cpu_s"] >= 0.2
    idle = run.run_measured([sys.executable, "-c", "import time; time.sleep(0.4)"], dict(os.environ),
                            tmp_path / "idle.json")
    assert idle["wall_s"] >= 0.4 and idle["cpu_s"] < idle["wall_s"] / 2


def _floor_module(monkeypatch):
    """bench/bench_floor.py, which puts bench/ on sys.path for its siblings
    (undone after the test, with the siblings it imported)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("run", "sets"):
        if name not in sys.modules:
            monkeypatch.setitem(sys.modules, name, None)
            monkeypatch.delitem(sys.modules, name)
    spec = importlib.util.spec_from_file_location(
        "fcslim_bench_floor", Path(__file__).resolve().parents[1] / "bench" / "bench_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_floors_take_the_larger_of_the_path_and_the_cpu_bound(monkeypatch):
    floors = _floor_module(monkeypatch).floors
    # uv alone is the long pole: the install stage's floor is start-up plus uv,
    # the build's adds the check's compiling split over both CPUs.
    path_bound = {"W_py": 0.02, "W_uv": 1.0, "C_py": 0.02, "C_uv": 0.5, "C_install_deflate": 0.1,
                  "C_deflate": 0.1, "C_check": 0.4, "W_exec": 0.1}
    assert floors(path_bound, 2) == pytest.approx({"install": 1.02, "cold": 1.22})
    # Every CPU busy: the CPU seconds over the CPUs.
    cpu_bound = {**path_bound, "W_uv": 0.5, "C_uv": 1.0, "C_install_deflate": 1.0, "C_deflate": 0.8, "C_check": 1.0}
    assert floors(cpu_bound, 2) == pytest.approx({"install": 1.01, "cold": 1.41})
    # The check's running part, one process in order, when it is longer than its split compiling.
    serial = {**path_bound, "W_exec": 0.5}
    assert floors(serial, 2)["cold"] == pytest.approx(1.52)
