"""The digest of fcslim's own code and data, part of every key whose result
fcslim's code decides (bundles, remembered tree results).

:func:`fcslim_digest` reads every ``*.py`` of the package and every data
``*.json``: about 1.5 MiB, 10-40 ms of each run on this project's machine.
:func:`own_code_digest` remembers it by those files' identities (path, device,
inode, size, modification time: a stat each, no read), so a run of an
unchanged fcslim reads none of them; any edit, added or removed file computes
it again."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from blake3 import blake3

from fcslim.cache.keys import cache_key
from fcslim.cache.results import recall, remember
from fcslim.core.resources import data_dir

KIND = "code-digest"
PACKAGE = Path(__file__).resolve().parents[1]


def fcslim_digest(package: Path, data: Path) -> str:
    """Digest of fcslim's package code (``*.py`` under *package*) and its data
    files (``*.json`` in *data*): everything of fcslim's own that decides a
    bundle's bytes."""
    digest = hashlib.sha256()
    sources = [("data", data, path) for path in sorted(data.glob("*.json"))]
    sources += [("fcslim", package, path) for path in sorted(package.rglob("*.py"))]
    for kind, base, path in sources:
        digest.update(f"{kind}/{path.relative_to(base).as_posix()}".encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _identities(top: str, suffix: str, recurse: bool) -> list[str]:
    found = []
    pending = [top]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as scan:
            for entry in scan:
                if entry.is_dir() and recurse:
                    pending.append(entry.path)
                elif entry.name.endswith(suffix) and entry.is_file():
                    st = entry.stat()
                    found.append(f"{entry.path}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return sorted(found)


@lru_cache(maxsize=1)
def own_code_digest() -> str:
    """:func:`fcslim_digest` of this fcslim, remembered by file identities."""
    data = data_dir()
    try:
        listing = _identities(str(PACKAGE), ".py", True) + _identities(str(data), ".json", False)
    except OSError:
        return fcslim_digest(PACKAGE, data)
    key = cache_key(KIND, blake3("\n".join(listing).encode("utf-8", "surrogateescape")).hexdigest())
    known = recall(KIND, key)
    if isinstance(known, str) and len(known) == 64:
        return known
    digest = fcslim_digest(PACKAGE, data)
    remember(KIND, key, digest)
    return digest
