"""The policy data the library graph reads: each runtime image's system
libraries (``data/manylinux_whitelist.json``) and the libraries installed
distributions open by name (``data/dlopen_libraries.json``), plus the walk
that finds the installed distributions of a tree.  One reader per file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packaging.utils import canonicalize_name

from fcslim.core.errors import ProfileError
from fcslim.core.resources import data_path
from fcslim.dists import dist_name
from fcslim.target.profile import Profile


@dataclass(frozen=True)
class SystemImage:
    """What a runtime's system image provides (from the whitelist file)."""

    name: str
    libraries: frozenset[str]
    glibcxx_max: str | None = None
    cxxabi_max: str | None = None
    gcc_max: str | None = None
    python_shared: bool = False
    source: str = ""


@lru_cache(maxsize=1)
def _whitelist() -> dict:
    return json.loads(data_path("manylinux_whitelist.json").read_text())


@lru_cache(maxsize=1)
def dlopen_table() -> dict:
    return json.loads(data_path("dlopen_libraries.json").read_text())


def system_image(profile: Profile) -> SystemImage:
    """The system image the profile names, with the glibc/GCC core added."""
    data = _whitelist()
    images = data["images"]
    entry = images.get(profile.system_image)
    if entry is None:
        raise ProfileError(
            f"Runtime profile '{profile.name}' names system image '{profile.system_image}', "
            "which fcslim has no library list for.",
            f"Set `system_image` to one of {', '.join(sorted(images))}.",
        )
    libraries = set(data["core"]) | set(entry.get("libraries", []))
    if entry.get("python_shared"):
        libraries.add(f"libpython{profile.python_version}.so.1.0")
    return SystemImage(
        name=profile.system_image,
        libraries=frozenset(libraries),
        glibcxx_max=entry.get("glibcxx_max"),
        cxxabi_max=entry.get("cxxabi_max"),
        gcc_max=entry.get("gcc_max"),
        python_shared=bool(entry.get("python_shared")),
        source=entry.get("source", data["sources"].get(profile.system_image, "")),
    )


def system_libraries(profile: Profile) -> frozenset[str]:
    """Sonames the runtime already has (its image's list plus the glibc/GCC core)."""
    return system_image(profile).libraries


def installed_distributions(root: str | os.PathLike) -> dict[str, str]:
    """Normalised distribution name -> ``*.dist-info`` path (relative to root)
    for every distribution installed in the tree (pip -t layout, a layer's
    ``python/`` or a full site-packages below it)."""
    root = Path(root)
    found: dict[str, str] = {}
    base_depth = len(root.parts)
    for directory, subdirs, _files in os.walk(root):
        here = Path(directory)
        keep = []
        for name in subdirs:
            if name.endswith(".dist-info"):
                dist = here / name
                found.setdefault(canonicalize_name(dist_name(dist)), dist.relative_to(root).as_posix())
            elif len(here.parts) - base_depth < 5 and not name.startswith(".") and name != "__pycache__":
                keep.append(name)
        subdirs[:] = keep
    return found


def dlopen_needs(root: str | os.PathLike) -> dict[str, list[str]]:
    """Sonames each installed distribution opens by name at run time, by
    normalised distribution name (only distributions in the data file).
    A need with alternatives is given as its preferred soname."""
    return {dist: [alts[0] for alts in group] for dist, group in dlopen_groups(root).items()}


def dlopen_groups(root: str | os.PathLike) -> dict[str, list[tuple[str, ...]]]:
    table = dlopen_table()["distributions"]
    result: dict[str, list[tuple[str, ...]]] = {}
    for name in sorted(installed_distributions(root)):
        entry = table.get(name)
        if not entry:
            continue
        result[name] = [tuple(s) if isinstance(s, list) else (s,) for s in entry["sonames"]]
    return result


