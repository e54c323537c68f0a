"""Builders for small bundles the slim/verify/compile tests share (no tests here)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

from fcslim.target.profile import load_profile


def host_profile():
    """A built-in runtime whose Python is the test interpreter's and which is
    checked with a host interpreter (not a clean root): aws-python3.11 on 3.11."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return load_profile(f"aws-python{version}")


def _record_line(root: Path, rel: str) -> str:
    data = (root / rel).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(data)}"


def add_distribution(root: Path, name: str, version: str, files: dict[str, str | bytes], *,
                     requires: list[str] = (), entry_points: str = "", top_level: list[str] | None = None) -> None:
    """Write ``files`` and a dist-info with METADATA, RECORD, WHEEL, INSTALLER,
    LICENSE and top_level.txt, as a wheel installer would."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    di = f"{name}-{version}.dist-info"
    (root / di).mkdir(parents=True, exist_ok=True)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    (root / di / "METADATA").write_text("\n".join(meta) + "\n\n")
    (root / di / "WHEEL").write_text("Wheel-Version: 1.0\n")
    (root / di / "INSTALLER").write_text("uv\n")
    (root / di / "LICENSE").write_text("MIT\n")
    tops = top_level if top_level is not None else sorted({f.split("/")[0].removesuffix(".py") for f in files if not f.startswith("bin/")})
    (root / di / "top_level.txt").write_text("\n".join(tops) + "\n")
    if entry_points:
        (root / di / "entry_points.txt").write_text(entry_points)
    listed = list(files) + [f"{di}/{n}" for n in ("METADATA", "WHEEL", "INSTALLER", "LICENSE", "top_level.txt")]
    if entry_points:
        listed.append(f"{di}/entry_points.txt")
    lines = [_record_line(root, rel) for rel in listed] + [f"{di}/RECORD,,"]
    (root / di / "RECORD").write_text("\n".join(lines) + "\n")


def build_shared_object(gcc: str, out: Path, debug: bool = True, source: str | None = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_name(out.name + ".build.c")
    src.write_text(source or "int answer(void) { return 42; }\nstatic int table[4096] = {1};\nint pick(int i) { return table[i]; }\n")
    argv = [gcc, "-shared", "-fPIC", "-O1", "-o", str(out), str(src)]
    if debug:
        argv.insert(1, "-g")
    subprocess.run(argv, check=True)
    src.unlink()
    return out


def make_bundle(root: Path) -> Path:
    """A bundle with one file for every default rule, an installer that is not
    needed (pip), one that is (setuptools, required by 'app'), and import-time
    test code that must stay (a numpy-like testing package)."""
    root.mkdir(parents=True, exist_ok=True)
    add_distribution(root, "app", "1.0", {
        "app/__init__.py": "from app import core\n",
        "app/core.py": "VALUE = 1\n",
        "app/tests/__init__.py": "",
        "app/tests/test_core.py": "def test(): pass\n",
        "app/test_extra.py": "X = 1\n",
        "app/conftest.py": "",
        "app/docs/index.html": "<html></html>\n",
        "app/README.md": "# app\n",
        "app/examples/demo.py": "print('demo')\n",
        "app/_speed.c": "int x;\n",
        "app/_speed.h": "int x;\n",
        "app/_speed.pyx": "cdef int x\n",
        "app/core.pyi": "VALUE: int\n",
        "app/sub/__init__.pyi": "from . import x\n",
        "app/sub/__init__.py": "",
        "app/libfoo.a": b"!<arch>\n" + b"\0" * 1000,
        "app/__pycache__/core.cpython-311.pyc": b"\0" * 100,
        "bin/app-cli": "#!/usr/bin/python\n",
    }, requires=["setuptools>=40", "nothere; python_version < '3'"])
    add_distribution(root, "numpy", "9.9", {
        "numpy/__init__.py": "from numpy import testing\n",
        "numpy/testing/__init__.py": "from numpy.testing._utils import assert_ok\n",
        "numpy/testing/_utils.py": "def assert_ok(): return True\n",
        "numpy/_core/__init__.py": "",
        "numpy/_core/tests/__init__.py": "",
        "numpy/_core/tests/_natype.py": "pd_NA = None\n",
        "numpy/_core/tests/test_big.py": "# " + "x" * 5000 + "\n",
    })
    add_distribution(root, "pip", "24.0", {
        "pip/__init__.py": "", "pip/_internal/__init__.py": "", "bin/pip": "#!/usr/bin/python\n",
    }, entry_points="[console_scripts]\npip = pip._internal.cli.main:main\n")
    add_distribution(root, "setuptools", "70.0", {
        "setuptools/__init__.py": "", "pkg_resources/__init__.py": "",
    })
    return root
