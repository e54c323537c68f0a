"""The bundle as slim sees it: its files and sizes, its distributions and who
needs each of them.

Files per distribution come from each ``*.dist-info/RECORD`` (or the
``files`` lists of ``.fcslim/install.json`` when RECORD is gone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from fcslim.core.records import installed_files
from fcslim.dists import name_from_dir_name, read_metadata, read_record

RECORD_DIR = ".fcslim"


def tree_files(root: Path) -> dict[str, int]:
    """Every file of the bundle (posix path relative to root → size), without
    ``.fcslim/``; symlinks count as files of their own (lstat size)."""
    root = Path(root)
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        if not rel_dir:
            dirnames[:] = [d for d in dirnames if d != RECORD_DIR]
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                out[f"{rel_dir}/{d}".lstrip("/")] = os.lstat(os.path.join(dirpath, d)).st_size
        for f in filenames:
            out[f"{rel_dir}/{f}".lstrip("/")] = os.lstat(os.path.join(dirpath, f)).st_size
    return dict(sorted(out.items()))


def tree_bytes(root: Path) -> int:
    return sum(tree_files(root).values())


@dataclass(frozen=True)
class Distribution:
    """An installed distribution as its dist-info describes it."""

    name: str
    version: str
    dist_info: str
    files: tuple[str, ...]
    requires: tuple[str, ...]
    entry_points: str = ""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    def top_level(self) -> set[str]:
        names = set()
        for f in self.files:
            first = f.split("/")[0]
            if first == self.dist_info or first.endswith((".dist-info", ".data")) or first in ("bin", ".."):
                continue
            if "/" in f:
                names.add(first)
            elif f.endswith(".py"):
                names.add(f[:-3])
            elif f.endswith(".pth"):
                continue
            else:
                names.add(first.split(".")[0])
        return names


def read_distributions(root: Path) -> list[Distribution]:
    """The distributions installed at the root of ``root``."""
    root = Path(root)
    fallback = None
    out = []
    for dist_info in sorted(root.glob("*.dist-info")):
        meta_path = dist_info / "METADATA"
        if not meta_path.is_file():
            continue
        meta = read_metadata(dist_info)
        name = meta.get("Name") or name_from_dir_name(dist_info.name)[0]
        files = read_record(dist_info)
        if files is None:
            if fallback is None:
                fallback = installed_files(root)
            files = fallback.get(canonicalize_name(name), [])
        ep = dist_info / "entry_points.txt"
        out.append(Distribution(
            name=name, version=meta.get("Version", ""), dist_info=dist_info.name,
            files=tuple(files), requires=tuple(meta.get_all("Requires-Dist") or ()),
            entry_points=ep.read_text(errors="replace") if ep.is_file() else "",
        ))
    return out


def requirement_applies(text: str, environment: dict) -> str | None:
    """The canonical name ``text`` requires on this target (no extras), or None."""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.marker is not None:
        try:
            if not req.marker.evaluate(dict(environment, extra="")):
                return None
        except (InvalidMarker, Exception):  # an odd marker: count it as applying
            pass
    return canonicalize_name(req.name)


def why_needed(dist: Distribution, others: Sequence[Distribution], environment: dict) -> str | None:
    """Why ``dist`` must stay (another dist requires it or names it in an entry
    point), or None when nothing installed needs it."""
    modules = dist.top_level()
    for other in others:
        if other.key == dist.key:
            continue
        for text in other.requires:
            if requirement_applies(text, environment) == dist.key:
                return f"{other.name} requires it"
        for line in other.entry_points.splitlines():
            if "=" not in line:
                continue
            target = line.split("=", 1)[1].strip().split(":")[0].split(".")[0]
            if target in modules:
                return f"an entry point of {other.name} uses {target}"
    return None
