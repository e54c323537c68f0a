"""Optional parts: a missing library needed only by Python extension modules.

An extension module (``numba/np/ufunc/tbbpool.cpython-39-x86_64-linux-gnu.so``)
is loaded only when something imports it; a missing library it needs is
fatal only if that happens.  Such a miss is not a fetch failure but a warning
naming the module and the feature lost (``data/library_wheels.json``), and
the import check that follows proves the bundle's top-level modules still
import (a module that does need it fails the build there, exit 8).  Libraries
needed by other libraries stay fatal, as do all misses with ``strict``.
When a PyPI wheel ships the soname (tbb: ``libtbb.so.12``), the warning names
it; ``--add-wheel-for-missing`` installs it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from fcslim.core.resources import data_path
from fcslim.elf.findings import MissingLibrary
from fcslim.fetch.record import OptionalMissing

_EXTENSION = re.compile(r"^(?P<module>[A-Za-z_][\w/]*?)(\.cpython-[\w-]+|\.abi3|\.cp\d+[\w-]*)?\.so$")


@lru_cache(maxsize=1)
def wheel_table() -> dict:
    return json.loads(data_path("library_wheels.json").read_text())


def wheel_for(soname: str) -> str | None:
    """The PyPI distribution whose wheel ships ``soname``, if the table knows one."""
    return wheel_table()["sonames"].get(soname)


def extension_module(path: str, lib_dir: str = "lib") -> str | None:
    """The dotted module name of a Python extension module at bundle ``path``
    (None for libraries: ``lib/``, ``*.libs/`` and versioned ``.so.N`` files)."""
    first = path.split("/", 1)[0]
    if first == lib_dir or first.endswith(".libs") or "/" not in path and not path.endswith(".so"):
        return None
    match = _EXTENSION.match(path)
    if not match or any(part.endswith(".libs") or "-" in part for part in path.split("/")[:-1]):
        return None
    return match.group("module").replace("/", ".")


def split_optional(missing: list[MissingLibrary], lib_dir: str = "lib") -> tuple[list[MissingLibrary],
                                                                               list[OptionalMissing]]:
    """(misses that are fatal, misses needed only by extension modules)."""
    features = wheel_table()["features"]
    fatal: list[MissingLibrary] = []
    optional: list[OptionalMissing] = []
    for miss in missing:
        modules = [extension_module(n, lib_dir) for n in miss.needed_by]
        if not modules or None in modules:
            fatal.append(miss)
            continue
        names = tuple(sorted({m for m in modules if m}))
        feature = "; ".join(features.get(m, f"what {m} provides") for m in names)
        optional.append(OptionalMissing(miss.soname, miss.needed_by, names, feature, wheel_for(miss.soname)))
    return fatal, optional


def describe(optional: list[OptionalMissing], release: str) -> list[str]:
    """One warning per optional miss."""
    out = []
    for item in optional:
        text = (f"{item.soname} is missing (Debian {release} has no package for it); only "
                f"{', '.join(item.modules)} need{'s' if len(item.modules) == 1 else ''} it, so the bundle works "
                f"without {item.feature}")
        if item.wheel:
            text += f"; the PyPI wheel '{item.wheel}' ships it: add it to the requirements or pass --add-wheel-for-missing"
        out.append(text + ".")
    return out
