"""Debian programs carried by the bundle, proven in a clean bullseye root.

One `fcslim resolve` of pdf2image + pydub + pytesseract for debian11-python3.9:
the wrappers bring poppler-utils, ffmpeg and tesseract-ocr (with English
traineddata) into bin/ without being asked.  In the clean root, with only the
runtime's search paths, pdf2image converts a PDF, pydub exports and reads an
mp3 through ffmpeg, and pytesseract reads text from an image.  The same runs
with the bundle at /opt/app and no LD_LIBRARY_PATH at all: the programs find
their libraries through RUNPATH ($ORIGIN), as in the split layout under /tmp.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.e2e import resolve_with_check
from fcslim.fetch.record import protected_paths

pytestmark = [pytest.mark.network, pytest.mark.rootfs, pytest.mark.slow]

CHECK = r'''
import shutil, sys
which = sys.argv[1:]
print("ffmpeg:", shutil.which("ffmpeg"))
from PIL import Image, ImageDraw, ImageFont
if "pdf2image" in which:
    page = Image.new("RGB", (200, 80), "white")
    ImageDraw.Draw(page).rectangle([10, 10, 100, 60], fill="black")
    page.save("/tmp/in.pdf")
    from pdf2image import convert_from_path
    pages = convert_from_path("/tmp/in.pdf", dpi=50)
    print("pdf2image:", len(pages), pages[0].size[0] > 0)
if "pydub" in which:
    from pydub import AudioSegment
    from pydub.generators import Sine
    Sine(440).to_audio_segment(duration=300).export("/tmp/out.mp3", format="mp3")
    print("pydub:", round(AudioSegment.from_mp3("/tmp/out.mp3").duration_seconds, 1))
if "pytesseract" in which:
    import pytesseract
    text = Image.new("RGB", (900, 140), "white")
    ImageDraw.Draw(text).text((20, 30), "Hello World", fill="black", font=ImageFont.load_default(size=64))
    print("pytesseract:", pytesseract.image_to_string(text).strip())
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, Path]:
    return resolve_with_check(tmp_path_factory.mktemp("programs"), "pdf2image\npydub\npytesseract\n", CHECK)


def test_wrappers_bring_their_programs(bundle):
    build, _ = bundle
    record = json.loads((build / ".fcslim" / "libraries.json").read_text())
    programs = {e["name"]: e for e in record["executables"]}
    assert {"pdftoppm", "pdfinfo", "ffmpeg", "ffprobe", "tesseract"} <= set(programs)
    assert programs["ffmpeg"]["requested_by"] == "wrapper:pydub" and programs["ffmpeg"]["package"] == "ffmpeg"
    assert "TESSDATA_PREFIX" in record["env"]
    assert {f"bin/{name}" for name in programs} <= protected_paths(build)
    assert all((build / "bin" / name).is_file() for name in programs)


def test_programs_run_from_the_bundle(bundle, run_in_bullseye):
    build, check = bundle
    run = run_in_bullseye(build, ["python3", "/check/check.py", "pdf2image", "pydub", "pytesseract"],
                          binds={str(check): "/check"})
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in run.stdout.strip().splitlines())
    assert lines["ffmpeg"] == "/code/bin/ffmpeg"
    assert lines["pdf2image"] == "1 True"
    assert lines["pydub"] == "0.3"
    assert lines["pytesseract"] == "Hello World"


def test_programs_find_their_libraries_anywhere(bundle, bullseye_root):
    from fcslim.verify import rootfs

    build, check = bundle
    run = rootfs.run_in_root(bullseye_root, ["python3", "/check/check.py", "pydub", "pdf2image"],
                             binds={str(build): "/opt/app", str(check): "/check"}, env={"PYTHONPATH": "/opt/app"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ffmpeg: /opt/app/bin/ffmpeg" in run.stdout and "pydub: 0.3" in run.stdout
