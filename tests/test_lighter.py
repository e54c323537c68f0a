"""Lighter equivalents and GPU-only dead weight (data/lighter_equivalents.json),
and --drop, proven by the import check."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from fcslim.report.lighter import advice_lines, lighter_advice, wheel_size
from fcslim.report.measure import build_report
from fcslim.resolve.index import Sources
from fcslim.slim.apply import plan_slim, slim
from fcslim.slim.rules import UserRules, ruleset_for
from fcslim.target.profile import load_profile
from fcslim.verify import interpreters
from fcslim.verify.imports import HostVerifier
from tests.support.slim_trees import add_distribution, host_profile

FC = load_profile("fc-python3.10")


def heavy_bundle(root: Path) -> Path:
    add_distribution(root, "opencv-python", "4.10.0.84", {"cv2/__init__.py": "X = 1\n" + "#" * 30000})
    add_distribution(root, "xgboost", "2.1.0", {"xgboost/__init__.py": "import os\n"},
                     requires=["nvidia-nccl-cu12; platform_system == 'Linux'"])
    add_distribution(root, "nvidia-nccl-cu12", "2.23.4", {"nvidia/nccl/lib/libnccl.so.2": b"\x7fELF" + bytes(20000)},
                     top_level=["nvidia"])
    add_distribution(root, "torch", "2.5.1+cpu", {"torch/__init__.py": ""})
    return root


def test_the_table_is_data_with_sources():
    table = json.loads((Path(__file__).parents[1] / "data" / "lighter_equivalents.json").read_text())
    assert {"opencv", "tensorflow", "xgboost", "torch", "nvidia"} <= set(table["sources"])
    names = {e["distribution"]: e["lighter"] for e in table["equivalents"]}
    assert names["opencv-python"] == "opencv-python-headless" and names["tensorflow"] == "tensorflow-cpu"
    assert names["xgboost"] == "xgboost-cpu"


def test_advice_names_the_lighter_equivalent_and_gpu_only_bytes(tmp_path):
    root = heavy_bundle(tmp_path / "b")
    report = build_report(root, FC)
    # A find-links directory with the equivalent's wheel: its size is the estimate.
    links = tmp_path / "links"
    links.mkdir()
    wheel = links / "opencv_python_headless-4.10.0.84-cp37-abi3-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("cv2/__init__.py", "X = 1\n")
    advice = {a.distribution: a for a in lighter_advice(report, FC, sources=Sources(None, (), (str(links),), True))}
    assert set(advice) == {"opencv-python", "xgboost", "nvidia-nccl-cu12"}  # torch is already the +cpu build
    assert advice["xgboost"].replacement == "xgboost-cpu" and advice["xgboost"].saved_deflated is None  # no wheel
    cv = advice["opencv-python"]
    assert cv.replacement == "opencv-python-headless"
    assert cv.saved_deflated == cv.deflated - wheel.stat().st_size
    nccl = advice["nvidia-nccl-cu12"]
    assert nccl.kind == "gpu-only" and nccl.exact
    nccl_bytes = next(d for d in report.distributions if d.name == "nvidia-nccl-cu12")
    assert nccl.bytes == nccl_bytes.bytes and nccl.saved_deflated == nccl_bytes.deflated
    lines = advice_lines(list(advice.values()))
    assert any("opencv-python-headless instead of opencv-python" in line and "saves about" in line for line in lines)
    assert any("--drop nvidia-nccl-cu12" in line for line in lines)
    offline = lighter_advice(report, FC, sources=None)
    assert next(a for a in offline if a.distribution == "opencv-python").saved_deflated is None


def test_drop_removes_a_required_gpu_library_and_the_import_check_proves_it(tmp_path):
    profile = host_profile()
    root = heavy_bundle(tmp_path / "b")
    rules = ruleset_for(UserRules(drop=("nvidia-nccl-cu12",), source="command line"))
    entry = next(r for r in plan_slim(root, profile, rules).rules if r.name == "user-drop")
    assert entry.distributions == ["nvidia-nccl-cu12 2.23.4"]
    assert any("dropped nvidia-nccl-cu12 on request although" in n and "xgboost" in n for n in entry.notes)
    interp = interpreters.find_python(profile, explicit=sys.executable)
    result = slim(root, profile, rules=rules, verifier=HostVerifier(profile, interp))
    assert not (root / "nvidia").exists() and not list(root.glob("nvidia_nccl*.dist-info"))
    assert result.verified.checked and "xgboost" in result.verified.passed and result.rolled_back == []
    record = json.loads((root / ".fcslim" / "slim.json").read_text())
    assert any(r["name"] == "user-drop" for r in record["rules"])


def test_drop_of_something_not_installed_is_said(tmp_path):
    root = heavy_bundle(tmp_path / "b")
    rules = ruleset_for(UserRules(drop=("nvidia-cudnn-cu12",)))
    entry = next(r for r in plan_slim(root, host_profile(), rules).rules if r.name == "user-drop")
    assert entry.files == [] and entry.notes == ["--drop nvidia-cudnn-cu12: not installed"]


@pytest.mark.network
def test_wheel_size_from_pypi_for_the_target():
    size = wheel_size("opencv-python-headless", "4.10.0.84", load_profile("debian11-python3.9"))
    assert size is not None and 20 * 1024 ** 2 < size < 120 * 1024 ** 2
