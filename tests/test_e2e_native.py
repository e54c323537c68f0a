"""End to end against the real archive: install pyzbar + pillow + qrcode,
opencv-python (not headless) and python-magic for debian11-python3.9, fetch
what they miss from Debian bullseye, and run them in a clean
`debootstrap --variant=minbase --include=python3 bullseye` root with the bundle
at /code and only FC's search paths (LD_LIBRARY_PATH=/code:/code/lib:/usr/local/lib,
PYTHONPATH=/code).  The same script fails in the same root before fetching,
so the libraries, the find_library hook and magic.mgc are what make it pass."""

from __future__ import annotations

import json
import shutil

import pytest

from fcslim.fetch.closure import fetch_missing
from fcslim.elf.graph import analyse
from fcslim.resolve.install import InstallOptions, install
from fcslim.target.profile import load_profile

pytestmark = [pytest.mark.network, pytest.mark.rootfs, pytest.mark.slow]

REQUIREMENTS = "pyzbar==0.1.9\npillow\nqrcode\nopencv-python\npython-magic==0.4.27\n"

CHECK = r'''
import io, sys
import qrcode
from PIL import Image
from pyzbar.pyzbar import decode
buf = io.BytesIO()
qrcode.make("fcslim e2e payload").save(buf, format="PNG")
buf.seek(0)
found = decode(Image.open(buf))
print("zbar:", found[0].data.decode())
import numpy, cv2
ok, png = cv2.imencode(".png", numpy.full((16, 16, 3), 200, numpy.uint8))
assert ok and bytes(png[:8]) == b"\x89PNG\r\n\x1a\n"
print("cv2:", cv2.__version__, len(png))
import magic
print("magic:", magic.from_buffer(png.tobytes()))
print("magic-mime:", magic.from_buffer(b"%PDF-1.4 hello", mime=True))
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    profile = load_profile("debian11-python3.9")
    work = tmp_path_factory.mktemp("e2e-native")
    requirements = work / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    bundle = work / "bundle"
    install(requirements, profile, bundle, InstallOptions())
    (work / "check.py").write_text(CHECK)
    return profile, bundle, work


def test_bundle_runs_in_clean_bullseye_after_fetch(installed, run_in_bullseye):
    profile, bundle, work = installed
    scripts = {str(work): "/check"}

    before = analyse(bundle, profile)
    assert "libGL.so.1" in before.missing_sonames and "libzbar.so.0" in before.missing_sonames
    failing = run_in_bullseye(bundle, ["python3", "/check/check.py"], binds=scripts)
    assert failing.returncode != 0  # nothing in the clean root provides zbar

    result = fetch_missing(bundle, profile)
    fetched = {f.soname: f for f in result.fetched}
    assert fetched["libzbar.so.0"].package == "libzbar0"
    assert fetched["libmagic.so.1"].package == "libmagic1"
    assert fetched["libGL.so.1"].package == "libgl1"
    assert all(f.deb_url.startswith("http://deb.debian.org/") and len(f.deb_sha256) == 64 for f in result.fetched)
    assert all(f.license for f in result.fetched)
    assert result.authentication["bullseye"].startswith("signed")
    assert not any(p.is_symlink() for p in (bundle / "lib").iterdir())
    assert not set(fetched) & set(result.skipped_system)
    assert analyse(bundle, profile).ok
    record = json.loads((bundle / ".fcslim" / "libraries.json").read_text())
    assert record["env"] == {"MAGIC": "lib/data/usr/lib/file/magic.mgc"} and record["missing"] == []

    run = run_in_bullseye(bundle, ["python3", "/check/check.py"], binds=scripts)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in run.stdout.strip().splitlines())
    assert lines["zbar"] == "fcslim e2e payload"
    assert lines["magic"].startswith("PNG image data, 16 x 16")
    assert lines["magic-mime"] == "application/pdf"
    assert int(lines["cv2"].split()[1]) > 8


def test_without_magic_database_python_magic_fails(installed, run_in_bullseye, tmp_path):
    """The data file is needed: the same bundle without lib/magic.mgc cannot
    identify a buffer (guards against the check passing for another reason)."""
    profile, bundle, work = installed
    if not (bundle / "lib" / "data" / "usr" / "lib" / "file" / "magic.mgc").exists():
        fetch_missing(bundle, profile)
    copy = tmp_path / "bundle"
    copy.mkdir()
    for item in ["magic", "lib", "sitecustomize.py", *(p.name for p in bundle.glob("python_magic-*.dist-info"))]:
        source = bundle / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / item)
    (copy / "lib" / "data" / "usr" / "lib" / "file" / "magic.mgc").unlink()
    run = run_in_bullseye(copy, ["python3", "-c", "import magic; print(magic.from_buffer(b'%PDF-1.4'))"])
    assert run.returncode != 0 and "magic" in run.stderr.lower()
