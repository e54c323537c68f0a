"""--smoke and --prune-untraced: the user's script runs traced in a clean
bullseye root; what it never opened is reported, pruned on request, and the
pruned bundle is proven by a second run (rootfs: needs root, debootstrap and
strace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fcslim.core.errors import VerifyError
from fcslim.report.measure import build_report
from fcslim.report.trace import module_key, never_prune, trace_report
from fcslim.slim.prune import prune_targets, smoke_and_prune
from fcslim.target.profile import load_profile
from tests.support.bundles import dist_info, write
from tests.support.tools import require_tool

DEBIAN11 = load_profile("debian11-python3.9")

HANDLER = '''
import json, subprocess
import used

def handler(event, context):
    # A helper process reads a data file: an audit hook in Python would miss it.
    data = subprocess.run(["cat", "/code/used/table.txt"], capture_output=True, text=True).stdout
    return json.dumps({"answer": used.answer(json.loads(event)["x"]), "table": data.strip()})
'''

SMOKE = '''
import index
out = index.handler(b'{"x": 20}', None)
assert '"answer": 42' in out and '"table": "row"' in out, out
print(out)
'''


def bundle_with_dead_weight(root: Path) -> Path:
    write(root / "used/__init__.py", "def answer(x):\n    return x + 22\n")
    write(root / "used/table.txt", "row\n")
    write(root / "used/unused_helper.py", "X = 1\n" * 500)
    write(root / "used/LICENSE", "MIT\n")
    dist_info(root, "used", "1.0", ["used/__init__.py", "used/table.txt", "used/unused_helper.py", "used/LICENSE"])
    write(root / "heavy/__init__.py", "import os\n" + "# padding\n" * 4000)
    write(root / "heavy/blob.bin", b"\x00" * 50_000)
    dist_info(root, "heavy", "2.0", ["heavy/__init__.py", "heavy/blob.bin"])
    return root


@pytest.fixture
def function(tmp_path) -> Path:
    code = tmp_path / "function"
    write(code / "index.py", HANDLER)
    write(code / "smoke.py", SMOKE)
    return code / "smoke.py"


def test_module_partners_and_licences():
    assert module_key("a/__pycache__/m.cpython-39.pyc") == module_key("a/m.py") == "a/m"
    assert never_prune("x-1.0.dist-info/METADATA") and never_prune("used/LICENSE")
    assert never_prune("lib/licenses/libfoo1/copyright") and not never_prune("used/table.txt")


def test_trace_report_and_targets_without_running(tmp_path):
    root = bundle_with_dead_weight(tmp_path / "b")
    report = build_report(root, DEBIAN11)
    trace = trace_report(report, {"used/__init__.py", "used/table.txt"})
    assert [d.name for d in trace.never_touched] == ["heavy"]
    assert trace.never_touched[0].bytes == sum(f.bytes for f in report.files if f.distribution == "heavy")
    only_dists = prune_targets(report, trace)
    assert {f["distribution"] for f in only_dists.files} == {"heavy"}
    assert any(f["path"].startswith("heavy-2.0.dist-info/") for f in only_dists.files)
    with_files = prune_targets(report, trace, files=True)
    paths = {f["path"] for f in with_files.files}
    assert "used/unused_helper.py" in paths and "used/LICENSE" not in paths and "used/__init__.py" not in paths
    assert not any(p.startswith("used-1.0.dist-info/") for p in paths)


@pytest.mark.rootfs
def test_smoke_traces_prunes_and_proves(tmp_path, function, bullseye_root):
    require_tool("strace", purpose="the smoke trace runs under it")
    root = bundle_with_dead_weight(tmp_path / "bundle")
    outcome = smoke_and_prune(root, DEBIAN11, function, prune_untraced=True, prune_files=True)
    assert outcome.first.ok and outcome.first.traced and "clean Debian bullseye root" in outcome.first.where
    assert {"used/__init__.py", "used/table.txt"} <= outcome.first.opened  # table.txt: opened by `cat`
    assert [d.name for d in outcome.trace.never_touched] == ["heavy"]
    pruned = json.loads((root / ".fcslim" / "prune.json").read_text())
    assert [d["name"] for d in pruned["distributions"]] == ["heavy"]
    assert {f["path"] for f in pruned["files"]} >= {"heavy/blob.bin", "used/unused_helper.py"}
    assert pruned["bytes"] >= 50_000
    assert not (root / "heavy").exists() and not list(root.glob("heavy-*.dist-info"))
    assert (root / "used" / "LICENSE").exists() and (root / "used" / "__init__.py").exists()
    assert outcome.after.ok
    smoke = json.loads((root / ".fcslim" / "smoke.json").read_text())
    assert smoke["after_pruning"]["ok"] and smoke["trace"]["never_touched_distributions"][0]["name"] == "heavy"


@pytest.mark.rootfs
def test_pruning_that_breaks_the_smoke_is_undone(tmp_path, bullseye_root):
    root = bundle_with_dead_weight(tmp_path / "bundle")
    # Passes only while heavy/ exists, without opening anything in it.
    write(tmp_path / "fn" / "smoke.py", "import os, sys\nsys.exit(0 if os.path.isdir('/code/heavy') else 3)\n")
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if ".fcslim" not in p.parts)
    with pytest.raises(VerifyError, match="broke it") as caught:
        smoke_and_prune(root, DEBIAN11, tmp_path / "fn" / "smoke.py", prune_untraced=True)
    assert "Nothing was pruned" in caught.value.hint
    after = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if ".fcslim" not in p.parts)
    assert after == before


@pytest.mark.rootfs
def test_a_failing_smoke_fails_the_build(tmp_path, bullseye_root):
    root = bundle_with_dead_weight(tmp_path / "bundle")
    write(tmp_path / "fn" / "smoke.py", "raise SystemExit('handler returned 500')\n")
    with pytest.raises(VerifyError, match="handler returned 500"):
        smoke_and_prune(root, DEBIAN11, tmp_path / "fn" / "smoke.py")
