"""A split bundle for the loader tests: two real libraries (one needing the
other), packed split for debian11-python3.9, its dependency zip (and a
corrupted copy) served over HTTP on 127.0.0.1 by :class:`CountingHandler`,
which records every path requested."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import zipfile

import pytest

from fcslim.core import progress
from fcslim.pack.archive import pack
from fcslim.target.profile import load_profile
from tests.support.elffiles import build_shared_library

BULLSEYE = load_profile("debian11-python3.9")

CALC = '''import ctypes

# Opened by name, as pyzbar/python-magic do: only a preloaded library is found,
# because the unpacked lib/ is not on the search path the process started with.
_lib = ctypes.CDLL("libatop.so")


def value():
    return _lib.atop()
'''


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    hits: list = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        type(self).hits.append(self.path)
        super().do_GET()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A directory served on 127.0.0.1 (only) by a thread: yields (dir, base URL)."""
    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(CountingHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def split(tmp_path_factory, served, gcc):
    """A bundle whose dependency, lib/libatop.so, needs lib/libzdep.so.1 (the
    lexical order would preload them the wrong way round), packed split; the
    dependency zip is served, and a corrupted copy beside it."""
    work = tmp_path_factory.mktemp("split")
    bundle = work / "bundle"
    (bundle / "lib").mkdir(parents=True)
    dep = build_shared_library(bundle / "lib" / "libzdep.so.1", "int zdep(void) { return 41; }\n",
                               soname="libzdep.so.1")
    build_shared_library(bundle / "lib" / "libatop.so", "int zdep(void);\nint atop(void) { return zdep() + 1; }\n",
                         soname="libatop.so", link=[dep])
    (bundle / "calc").mkdir()
    (bundle / "calc" / "__init__.py").write_text(CALC)
    progress.configure(quiet=True)
    result = pack(bundle, work / "fn.zip", "split", BULLSEYE)
    www, base = served
    deps = result.archive("deps").path
    shutil.copy(deps, www / "fn.deps.zip")
    corrupted = bytearray(deps.read_bytes())
    corrupted[len(corrupted) // 2] ^= 0xFF
    (www / "corrupted.deps.zip").write_bytes(bytes(corrupted))
    code = work / "code"
    with zipfile.ZipFile(work / "fn.zip") as zf:
        zf.extractall(code)
    return {"bundle": bundle, "result": result, "code": code, "url": f"{base}/fn.deps.zip",
            "bad_url": f"{base}/corrupted.deps.zip", "www": www, "base": base,
            "config": json.loads((code / "fcslim_deps.json").read_text())}


# Two cold starts at once, in one process tree, as a runtime's concurrent instances would.
RACE = r'''
import os, subprocess, sys
mode = sys.argv[1]
code = "import fcslim_loader, calc; print(calc.value(), fcslim_loader.load())"
procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True) for _ in range(2)]
for p in procs:
    out, err = p.communicate()
    print("RESULT", p.returncode, out.strip().replace("\n", " "), "|", err.strip().splitlines()[-1:] if err else "")
print("TMP", sorted(os.listdir("/tmp")))
print("PY", tuple(sys.version_info[:2]))
'''
