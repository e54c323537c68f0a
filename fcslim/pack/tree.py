"""The files of a bundle as the packer stores them: regular files sorted by
path, links inside the bundle dereferenced, links leaving it (or pointing at
nothing, at the records or in a loop) and special files left out and listed,
the records directory ``.fcslim/`` never included."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from fcslim.core.errors import InputError, PackError

RECORDS_DIR = ".fcslim"


@dataclass(frozen=True)
class TreeFile:
    """A regular file of the bundle as it will be packed."""

    path: str  # relative to the bundle root, posix
    source: Path  # the file read (a link's target when dereferenced)
    size: int
    executable: bool
    link: str | None = None  # the symbolic link's text, when dereferenced


@dataclass(frozen=True)
class SkippedLink:
    path: str
    target: str
    reason: str


@dataclass
class TreeListing:
    root: Path
    files: list[TreeFile]
    skipped_links: list[SkippedLink] = field(default_factory=list)
    empty_dirs: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def list_tree(root: str | os.PathLike) -> TreeListing:
    """Every file the packer would store, sorted by path, with links resolved
    as described in the module docstring (``.fcslim/`` left out)."""
    root = Path(root)
    real_root = Path(os.path.realpath(root))
    files: list[TreeFile] = []
    skipped: list[SkippedLink] = []
    empty: list[str] = []

    def inside(real: str) -> bool:
        return real == str(real_root) or real.startswith(str(real_root) + os.sep)

    def walk(directory: Path, rel_dir: str, chain: frozenset[str], real_dir: str) -> None:
        # real_dir: the directory's real path, carried down (a real
        # subdirectory's is real_dir/name) instead of os.path.realpath for
        # each, which stats every component of the path.
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise PackError(f"Cannot read directory {directory} of the bundle ({exc}).",
                            "Check its permissions and run again.") from exc
        stored_before = len(files)
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            if not rel_dir and entry.name == RECORDS_DIR:
                continue
            if entry.is_symlink():
                target_text = os.readlink(entry.path)
                real = os.path.realpath(entry.path)
                if not inside(real):
                    skipped.append(SkippedLink(rel, target_text, "points outside the bundle"))
                    continue
                if not os.path.exists(real):
                    skipped.append(SkippedLink(rel, target_text, "points to nothing"))
                    continue
                if os.path.relpath(real, real_root).split(os.sep)[0] == RECORDS_DIR:
                    skipped.append(SkippedLink(rel, target_text, "points into the .fcslim records"))
                    continue
                if os.path.isdir(real):
                    if real in chain:
                        skipped.append(SkippedLink(rel, target_text, "makes a directory loop"))
                        continue
                    walk(Path(real), rel + "/", chain | {real}, real)
                    continue
                st = os.stat(real)
                if not stat.S_ISREG(st.st_mode):
                    skipped.append(SkippedLink(rel, target_text, "points to a special file"))
                    continue
                files.append(TreeFile(rel, Path(real), st.st_size, bool(st.st_mode & 0o111), target_text))
            elif entry.is_dir(follow_symlinks=False):
                real_sub = os.path.join(real_dir, entry.name)
                walk(Path(entry.path), rel + "/", chain | {real_sub}, real_sub)
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                files.append(TreeFile(rel, Path(entry.path), st.st_size, bool(st.st_mode & 0o111)))
            else:
                skipped.append(SkippedLink(rel, "", "is a special file (fifo, socket or device)"))
        if len(files) == stored_before and rel_dir and not any(s.path.startswith(rel_dir) for s in skipped):
            empty.append(rel_dir.rstrip("/"))

    if not root.is_dir():
        raise InputError(f"{root} is not a directory.", "Pass the bundle directory built by `fcslim resolve`.")
    walk(root, "", frozenset({str(real_root)}), str(real_root))
    files.sort(key=lambda f: f.path)
    return TreeListing(root, files, skipped, sorted(empty))
