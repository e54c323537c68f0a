"""Run-time data of fetched libraries, proven in a clean bullseye root.

One `fcslim resolve` of weasyprint + sounddevice + Wand + ghostscript for
debian11-python3.9 (built once, cached across runs by the bundle cache), then
in `debootstrap --variant=minbase --include=python3 bullseye` with /proc and
only the runtime's search paths:

* weasyprint renders HTML to a PDF that embeds a DejaVu font (fontconfig's
  configuration is written at start-up, so the bundle also works unpacked
  somewhere else: the same check runs with the bundle at /opt/app);
* sounddevice imports (PortAudio + ALSA's alsa.conf) and lists no devices;
* Wand converts an image to PNG and JPEG (ImageMagick's coder modules);
* ghostscript (found by reading its code: no table entry) renders a page
  with a URW font to PNG.

Without the bundle's start-up hook (`python3 -S`) the same checks fail, so
the relocated data and the variables are what make them pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.e2e import resolve_with_check

pytestmark = [pytest.mark.network, pytest.mark.rootfs, pytest.mark.slow]

REQUIREMENTS = "weasyprint\nsounddevice\nWand\nghostscript\n"

CHECK = r'''
import re, sys
which = sys.argv[1:]
if "weasyprint" in which:
    from weasyprint import HTML
    pdf = HTML(string="<h1 style='font-family: sans-serif'>Hello fcslim</h1>").write_pdf(uncompressed_pdf=True)
    fonts = sorted(set(f.decode() for f in re.findall(rb"/BaseFont\s*/([\w+-]+)", pdf)))
    print("weasyprint:", b"/FontFile" in pdf, ",".join(fonts))
if "sounddevice" in which:
    import sounddevice
    print("sounddevice:", len(sounddevice.query_devices()))
if "wand" in which:
    from wand.color import Color
    from wand.image import Image
    with Image(width=8, height=8, background=Color("blue")) as img:
        img.format = "png"
        png = img.make_blob()
    with Image(blob=png) as again:
        again.format = "jpeg"
        jpeg = again.make_blob()
    print("wand:", png[:4] == b"\x89PNG", jpeg[:3] == b"\xff\xd8\xff")
if "ghostscript" in which:
    import ghostscript
    with open("/tmp/page.ps", "w") as handle:
        handle.write("%!PS\n/Helvetica findfont 24 scalefont setfont 72 720 moveto (Hello fcslim) show showpage\n")
    ghostscript.Ghostscript("gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=png16m", "-r40",
                            "-sOutputFile=/tmp/page.png", "/tmp/page.ps")
    with open("/tmp/page.png", "rb") as handle:
        print("ghostscript:", handle.read(4) == b"\x89PNG")
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, Path]:
    return resolve_with_check(tmp_path_factory.mktemp("runtime-data"), REQUIREMENTS, CHECK)


def _lines(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines() if ": " in line)


def test_record_names_the_data_and_variables(bundle):
    build, _ = bundle
    record = json.loads((build / ".fcslim" / "libraries.json").read_text())
    assert {"FONTCONFIG_FILE", "ALSA_CONFIG_PATH", "MAGICK_CODER_MODULE_PATH", "GS_LIB"} <= set(record["env"])
    packages = {d["package"] for d in record["data_files"]}
    assert {"fonts-dejavu-core", "libasound2-data", "libmagickcore-6.q16-6", "imagemagick-6-common",
            "libgs9-common", "fonts-urw-base35"} <= packages
    assert record["code_needs"]["ghostscript"] == ["libgs.so.9"]
    assert not any(p.is_symlink() for p in (build / "lib").rglob("*"))
    slim = json.loads((build / ".fcslim" / "slim.json").read_text())
    assert slim["verified"]["after"]["checked"] and not slim["verified"]["after"]["failed"]


def test_everything_works_in_clean_bullseye(bundle, run_in_bullseye):
    build, check = bundle
    run = run_in_bullseye(build, ["python3", "/check/check.py", "weasyprint", "sounddevice", "wand", "ghostscript"],
                          binds={str(check): "/check"})
    assert run.returncode == 0, run.stderr[-3000:]
    lines = _lines(run.stdout)
    embedded, fonts = lines["weasyprint"].split(" ", 1)
    assert embedded == "True" and "DejaVu" in fonts
    assert lines["sounddevice"] == "0"
    assert lines["wand"] == "True True"
    assert lines["ghostscript"] == "True"


def test_works_unpacked_elsewhere(bundle, bullseye_root):
    from fcslim.verify import rootfs

    build, check = bundle
    env = {"LD_LIBRARY_PATH": "/opt/app/lib", "PYTHONPATH": "/opt/app"}
    run = rootfs.run_in_root(bullseye_root, ["python3", "/check/check.py", "weasyprint", "wand"],
                             binds={str(build): "/opt/app", str(check): "/check"}, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _lines(run.stdout)["weasyprint"].startswith("True DejaVu") or "DejaVu" in run.stdout


def test_without_the_hook_the_libraries_lack_their_data(bundle, run_in_bullseye):
    build, check = bundle
    for name in ("wand", "ghostscript"):
        run = run_in_bullseye(build, ["python3", "-S", "/check/check.py", name], binds={str(check): "/check"})
        assert run.returncode != 0, (name, run.stdout)
