"""Fixture bundles with known sizes for the report, pack and hand-off tests.

Every file's bytes are chosen here, so tests can state exact sizes per
distribution and category without trusting the code under test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ELF_HEADER = b"\x7fELF\x02\x01\x01" + b"\x00" * 9  # magic + class/data/version; enough for is_elf


def write(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    return path


def pseudo_random(n: int, seed: int) -> bytes:
    """Incompressible-ish bytes, reproducible."""
    out = bytearray()
    x = seed or 1
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        out += (x >> 24).to_bytes(5, "little")
    return bytes(out[:n])


def dist_info(root: Path, name: str, version: str, files: list[str], extra_record: list[str] = ()) -> None:
    info = root / f"{name}-{version}.dist-info"
    write(info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    rows = [f"{p},sha256=x,1" for p in files] + list(extra_record)
    rows += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    write(info / "RECORD", "\n".join(rows) + "\n")


# Sizes the tests assert on.
SIZES = {
    "alpha/__init__.py": 1000,
    "alpha/core.py": 3000,
    "alpha/_speed.cpython-310-x86_64-linux-gnu.so": 5000,
    "alpha/table.dat": 7000,
    "alpha/__pycache__/core.cpython-310.pyc": 900,  # not in RECORD: compiled later
    "bin/alpha-cli": 120,
    "ns/beta/__init__.py": 400,
    "ns/gamma/__init__.py": 600,
    "lib/libfoo.so.1": 11000,
    "lib/libbar.so.2": 13000,
    "README-unowned.txt": 250,
    "share/misc/magic.mgc": 800,  # a data file fetched from Debian
    "sitecustomize.py": 300,  # the hook fetch writes
}


def make_bundle(root: Path) -> Path:
    """A pip -t style tree: alpha (code, an extension, data, a script via
    ../../bin), namespace package ns shared by beta and gamma, fetched
    libraries (one known to libraries.json), an unowned file and records."""
    for rel, size in SIZES.items():
        if rel.endswith(".so") or ".so." in rel:
            data = ELF_HEADER + pseudo_random(size - len(ELF_HEADER), size)
        elif rel.endswith(".dat"):
            data = pseudo_random(size, 7)
        else:
            data = (("# " + rel + "\n") * size)[:size].encode()
        write(root / rel, data, 0o755 if rel.startswith("bin/") else 0o644)
    dist_info(root, "alpha", "1.2", ["alpha/__init__.py", "alpha/core.py",
                                     "alpha/_speed.cpython-310-x86_64-linux-gnu.so", "alpha/table.dat"],
              ["../../bin/alpha-cli,,"])
    dist_info(root, "beta", "2.0", ["ns/beta/__init__.py"])
    dist_info(root, "gamma", "3.0", ["ns/gamma/__init__.py"])
    records = root / ".fcslim"
    write(records / "libraries.json", json.dumps({"schema": 1, "fetched": [
        {"soname": "libfoo.so.1", "path": "lib/libfoo.so.1", "package": "libfoo1", "version": "1.0-1",
         "source_package": "foo", "license": "MIT", "deb_url": "http://x/y.deb", "deb_sha256": "0" * 64,
         "size": 11000, "needed_by": ["alpha/_speed.cpython-310-x86_64-linux-gnu.so"]}],
        "data_files": [{"path": "share/misc/magic.mgc", "package": "libmagic-mgc", "version": "1:5.39-3",
                        "member": "./usr/share/misc/magic.mgc", "env": "MAGIC", "why": "libmagic's database",
                        "size": 800, "deb_url": "http://x/m.deb", "deb_sha256": "0" * 64}],
        "env": {"MAGIC": "share/misc/magic.mgc"}, "hooks": ["sitecustomize.py"],
        "missing": [], "unloadable": []}))
    write(records / "slim.json", json.dumps({"schema": 1, "before_bytes": 90000, "after_bytes": 41270, "rules": [
        {"name": "tests", "why": "test suites are not imported", "files": ["alpha/tests/a.py"], "bytes": 48730}],
        "rolled_back": [], "verified": {}, "compiled": {}}))
    return root


def dist_info_sizes(root: Path, name: str) -> int:
    info = next(root.glob(f"{name}-*.dist-info"))
    return sum(p.stat().st_size for p in info.iterdir())
