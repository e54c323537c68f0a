"""The Python API as the README documents it, through `import fcslim` in a
fresh interpreter (offline: the tiny wheels of tests/support/wheels.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import json, sys
from pathlib import Path
import fcslim

links, cache, out = sys.argv[1:4]
assert callable(fcslim.build)
options = fcslim.BuildOptions(
    requirements=Path(out) / "requirements.txt",
    profile=fcslim.load_profile("fc-python3.10"),
    output=Path(out) / "build",
    install=fcslim.InstallOptions(no_index=True, find_links=(links,), cache_dir=Path(cache)),
    fetch=False, slim=False, verify=False,
    pack_layout="auto", handler="index.handler",
)
result = fcslim.build(options)
import fcslim.pipeline, fcslim.pack.archive, fcslim.slim.apply  # submodules loaded: the names stay functions
again = fcslim.build(options)
print(json.dumps({
    "callable": [callable(fcslim.build), callable(fcslim.slim_tree), callable(fcslim.pack_tree)],
    "layout": result.plan.layout,
    "artifacts": [a.artifact_dict() for a in again.pack.archives],
    "cached": again.cached,
}))
'''


def test_the_documented_api_through_import_fcslim(links, cache, tmp_path):
    (tmp_path / "requirements.txt").write_text("stable\n")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(links), str(cache), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["callable"] == [True, True, True]
    assert out["layout"] == "code" and out["cached"] is True
    [artifact] = out["artifacts"]
    assert artifact["kind"] == "code" and artifact["mount"] == "/code"
    assert Path(artifact["path"]).stat().st_size == artifact["zipped_bytes"]


def test_the_readme_example_is_this_api():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("### Python API"):]
    for name in ("fcslim.BuildOptions(", "fcslim.load_profile(", "fcslim.build(", "artifact_dict()"):
        assert name in section
