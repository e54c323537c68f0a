"""The whole `fcslim resolve` pipeline, through the CLI, against PyPI and
Debian's archive, proven in a clean bullseye root.

One build of a native set (pyzbar + pillow + qrcode + python-magic + requests)
for debian11-python3.9: install for the target, fetch zbar/libmagic and their
closure from bullseye, slim with imports verified in the clean root, report,
and pack a code zip.  The *zip* (not the build directory) is unpacked and run
in the root with only FC's search paths.  A second identical build must come
from the bundle cache with the same bytes, and the size gate must fail a build
that is over a limit while leaving the complete bundle in place.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_SIZE

pytestmark = [pytest.mark.network, pytest.mark.rootfs, pytest.mark.slow]

REQUIREMENTS = "pyzbar==0.1.9\npillow\nqrcode\npython-magic==0.4.27\nrequests\n"

CHECK = r'''
import io
import qrcode, requests
from PIL import Image
from pyzbar.pyzbar import decode
buf = io.BytesIO()
qrcode.make("fcslim pipeline").save(buf, format="PNG")
buf.seek(0)
print("zbar:", decode(Image.open(buf))[0].data.decode())
import magic
print("magic:", magic.from_buffer(buf.getvalue(), mime=True))
print("requests:", requests.__version__)
'''


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".fcslim" not in p.relative_to(root).parts
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("pipeline")
    (work / "requirements.txt").write_text(REQUIREMENTS)
    (work / "check").mkdir()
    (work / "check" / "check.py").write_text(CHECK)
    return work


@pytest.fixture(scope="module")
def first_build(project):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    result = CliRunner().invoke(
        main,
        ["resolve", str(project / "requirements.txt"), "--runtime", "debian11-python3.9",
         "--output", str(project / "build"), "--pack", "code", "--no-cache"],
        env=env,
    )
    return result


def test_resolve_builds_a_proven_bundle(first_build, project):
    assert first_build.exit_code == 0, first_build.output
    build = project / "build"
    records = {p.name for p in (build / ".fcslim").iterdir()}
    assert {"install.json", "libraries.json", "slim.json", "report.json"} <= records
    libraries = json.loads((build / ".fcslim" / "libraries.json").read_text())
    packages = {lib["package"] for lib in libraries["fetched"]}
    assert {"libzbar0", "libmagic1"} <= packages
    slim = json.loads((build / ".fcslim" / "slim.json").read_text())
    assert slim["after_bytes"] < slim["before_bytes"]
    assert slim["verified"]["after"]["checked"], slim["verified"]
    report = json.loads((build / ".fcslim" / "report.json").read_text())
    assert report["schema"] == "fcslim.report/1" and report["ok"]


def test_packed_zip_runs_in_clean_bullseye(first_build, project, tmp_path, run_in_bullseye):
    assert first_build.exit_code == 0, first_build.output
    archive = project / "build.zip"
    unpacked = tmp_path / "code"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unpacked)
    assert not (unpacked / ".fcslim").exists()
    run = run_in_bullseye(unpacked, ["python3", "/check/check.py"], binds={str(project / "check"): "/check"})
    assert run.returncode == 0, run.stderr
    assert "zbar: fcslim pipeline" in run.stdout
    assert "magic: image/png" in run.stdout


def test_unchanged_rebuild_comes_from_the_bundle_cache(first_build, project, tmp_path):
    assert first_build.exit_code == 0, first_build.output
    args = ["resolve", str(project / "requirements.txt"), "--runtime", "debian11-python3.9", "-q"]
    runner = CliRunner()
    cold = runner.invoke(main, args + ["--output", str(tmp_path / "a")])
    assert cold.exit_code == 0, cold.output
    warm = runner.invoke(main, args + ["--output", str(tmp_path / "b")])
    assert warm.exit_code == 0, warm.output
    assert "from the bundle cache" in warm.output
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "b") == tree_digest(project / "build")


def test_size_gate_fails_but_keeps_the_complete_bundle(first_build, project, tmp_path):
    assert first_build.exit_code == 0, first_build.output
    out = tmp_path / "gated"
    result = CliRunner().invoke(
        main,
        ["resolve", str(project / "requirements.txt"), "--runtime", "debian11-python3.9",
         "--output", str(out), "--max-zip", "1MB", "-q"],
    )
    assert result.exit_code == EXIT_SIZE, result.output
    assert "over" in result.output.lower() or "limit" in result.output.lower()
    assert (out / ".fcslim" / "report.json").is_file()
    assert tree_digest(out) == tree_digest(project / "build")
