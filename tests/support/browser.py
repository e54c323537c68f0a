"""A real browser for the HTML report: headless Chromium, and a small PNG
reader to check what it drew.

    shot = screenshot(page, out_png, width=1100, height=1400)
    colours = png_colours(shot)        # {(r, g, b), ...}
    kinds = render_mermaid(blocks, mermaid_js, tmp)   # ["pie", "pie"] (or "error")
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# No network at all: the page must be self-contained, and the browser must
# not phone home from a test.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--proxy-server=http://127.0.0.1:9",
         "--proxy-bypass-list=<-loopback>")


def chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def screenshot(page: Path, png: Path, width: int = 1100, height: int = 1400, timeout: float = 90.0) -> Path:
    """Render ``page`` (a local file) with headless Chromium into ``png``."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH")
    with tempfile.TemporaryDirectory(prefix="fcslim-chromium-") as profile:
        argv = [browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                f"--window-size={width},{height}", Path(page).resolve().as_uri()]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if run.returncode != 0 or not Path(png).is_file():
        raise RuntimeError(f"chromium failed ({run.returncode}): {run.stderr[-2000:]}")
    return Path(png)


def dump_dom(page: Path, timeout: float = 90.0) -> str:
    """The DOM Chromium built from ``page``, serialised."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH")
    with tempfile.TemporaryDirectory(prefix="fcslim-chromium-") as profile:
        run = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                              Path(page).resolve().as_uri()], capture_output=True, text=True, timeout=timeout,
                             check=False)
    if run.returncode != 0:
        raise RuntimeError(f"chromium failed ({run.returncode}): {run.stderr[-2000:]}")
    return run.stdout


def png_pixels(png: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG."""
    data = Path(png).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{png} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if header is None:
        raise ValueError(f"{png} has no IHDR")
    width, height, depth, colour, _compression, _filter, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG layout (depth {depth}, colour type {colour}, interlace {interlace})")
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def png_colours(png: Path) -> dict[tuple[int, int, int], int]:
    """How many pixels of each RGB colour ``png`` has."""
    width, _height, rows = png_pixels(png)
    channels = len(rows[0]) // width if rows else 3
    counts: dict[tuple[int, int, int], int] = {}
    for row in rows:
        for x in range(0, len(row), channels):
            key = (row[x], row[x + 1], row[x + 2])
            counts[key] = counts.get(key, 0) + 1
    return counts


def render_mermaid(blocks: list[str], mermaid_js: Path, workdir: Path) -> list[str]:
    """Render Mermaid ``blocks`` with the real Mermaid library in Chromium; the
    kind of diagram each became ("pie", …, or "error" for a syntax error)."""
    page = Path(workdir) / "mermaid.html"
    pres = "".join(f'<pre class="mermaid">\n{html.escape(block)}</pre>\n' for block in blocks)
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8">'
                    f'<script src="{Path(mermaid_js).resolve().as_uri()}"></script></head><body>\n{pres}'
                    '<script>mermaid.initialize({startOnLoad: false});'
                    'mermaid.run({querySelector: "pre.mermaid", suppressErrors: true})'
                    '.then(() => document.body.setAttribute("data-done", "1"));</script></body></html>\n')
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH")
    with tempfile.TemporaryDirectory(prefix="fcslim-chromium-") as profile:
        run = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=15000",
                              "--allow-file-access-from-files", "--dump-dom", page.as_uri()],
                             capture_output=True, text=True, timeout=120, check=False)
    if run.returncode != 0 or 'data-done="1"' not in run.stdout:
        raise RuntimeError(f"Mermaid did not finish in Chromium ({run.returncode}): {run.stderr[-2000:]}")
    return re.findall(r'aria-roledescription="([a-zA-Z-]+)"', run.stdout)
