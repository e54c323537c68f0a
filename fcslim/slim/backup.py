"""Applying slim actions with a backup: every removed or stripped file is kept
in ``.fcslim/slim-backup`` until the import checks are done, so any set of
actions can be applied or taken back (rollback and bisection need both)."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from fcslim.core.files import copy_over, move
from fcslim.core.records import RECORDS_DIR
from fcslim.slim.strip import strip_debug_copy
from fcslim.slim.tree import tree_files

BACKUP_DIR = f"{RECORDS_DIR}/slim-backup"
_WHOLE_DIRECTORIES_FROM = 32  # fewer deletions (a bisection step) are moved file by file


@dataclass(frozen=True)
class Action:
    rule: str
    path: str
    kind: str  # "delete" | "strip-debug"


class Tree:
    """Moves files between the bundle and the backup so that exactly a given
    set of actions is applied."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.backup = self.root / BACKUP_DIR
        self.applied: set[Action] = set()
        self.strip_failures: dict[str, str] = {}

    def _removed(self, path: str) -> Path:
        return self.backup / "removed" / path

    def _apply(self, action: Action) -> bool:
        live = self.root / action.path
        if action.kind == "strip-debug":
            stripped = self.backup / "stripped" / action.path
            original = self.backup / "original" / action.path
            if not stripped.exists():
                if action.path in self.strip_failures:
                    return False
                stripped.parent.mkdir(parents=True, exist_ok=True)
                original.parent.mkdir(parents=True, exist_ok=True)
                problem = strip_debug_copy(live, stripped)
                if problem:
                    self.strip_failures[action.path] = problem
                    return False
                _keep_original(live, original)
            copy_over(stripped, live)
            return True
        target = self._removed(action.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        move(live, target)
        return True

    def _revert(self, action: Action) -> None:
        live = self.root / action.path
        if action.kind == "strip-debug":
            copy_over(self.backup / "original" / action.path, live)
            return
        live.parent.mkdir(parents=True, exist_ok=True)
        move(self._removed(action.path), live)

    def set_applied(self, wanted: Iterable[Action]) -> None:
        wanted = {a for a in set(wanted) if a.path not in self.strip_failures}
        for action in sorted(self.applied - wanted, key=lambda a: a.path):
            self._revert(action)
            self.applied.discard(action)
        touched_dirs = set()
        new = sorted(wanted - self.applied, key=lambda a: a.path)
        for rel, inside in self._move_whole_directories([a for a in new if a.kind == "delete"]).items():
            self.applied.update(inside)
            touched_dirs.add(str(Path(rel).parent))
        for action in new:
            if action in self.applied:
                continue
            if self._apply(action):
                self.applied.add(action)
                if action.kind == "delete":
                    touched_dirs.add(str(Path(action.path).parent))
        self._prune(touched_dirs)

    def _move_whole_directories(self, deletes: list[Action]) -> dict[str, list[Action]]:
        """Move each largest directory whose every entry, all the way down, is
        one of ``deletes`` into the backup with one rename (a test suite is
        one move, not hundreds); returns {directory: its actions}.  A
        directory that also holds anything else, an empty subdirectory
        included, is left to the per-file moves, so the tree ends up exactly
        as they would leave it."""
        if len(deletes) < _WHOLE_DIRECTORIES_FROM:
            return {}
        by_path = {a.path: a for a in deletes}
        whole: dict[str, list[Action]] = {}

        def visit(directory: str, rel: str) -> list[Action] | None:
            """The actions covering everything under ``rel``, or None."""
            covered: list[Action] = []
            complete = True
            children = []
            with os.scandir(directory) as entries:
                for entry in entries:
                    child = f"{rel}{entry.name}"
                    if child == RECORDS_DIR:  # the records and the backup itself
                        complete = False
                    elif entry.is_dir(follow_symlinks=False):
                        children.append((entry.path, child))
                    elif child in by_path:
                        covered.append(by_path[child])
                    else:
                        complete = False
            found = {child: visit(path, child + "/") for path, child in children}
            complete = complete and bool(covered or children) and all(v is not None for v in found.values())
            if complete and rel and not os.path.lexists(self._removed(rel.rstrip("/"))):
                return covered + [a for v in found.values() for a in v]  # type: ignore[union-attr]
            for child, actions in found.items():  # this one stays: its whole children move alone
                if actions is not None and not os.path.lexists(self._removed(child)):
                    whole[child] = actions
            return None

        visit(str(self.root), "")  # the root itself is never moved
        for rel in sorted(whole):
            target = self._removed(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            move(self.root / rel, target)
        return whole

    def _prune(self, dirs: set[str]) -> None:
        """Remove the directories in ``dirs`` that are now empty, and their
        parents that become empty (one ``rmdir`` each: a directory that is
        not empty or not there refuses it)."""
        for rel in sorted(dirs, key=lambda d: -d.count("/")):
            current = self.root / rel
            while current != self.root:
                try:
                    os.rmdir(current)
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR):
                        break
                    raise
                current = current.parent

    def recover(self) -> list[str]:
        """Put back what an interrupted earlier run left in the backup."""
        restored = []
        removed = self.backup / "removed"
        if removed.exists():
            for rel in tree_files(removed):
                live = self.root / rel
                if not live.exists():
                    live.parent.mkdir(parents=True, exist_ok=True)
                    move(removed / rel, live)
                    restored.append(rel)
        original = self.backup / "original"
        if original.exists():
            for rel in tree_files(original):
                copy_over(original / rel, self.root / rel)
                restored.append(rel)
        self.discard_backup()
        return restored

    def discard_backup(self) -> None:
        shutil.rmtree(self.backup, ignore_errors=True)


def _keep_original(live: Path, original: Path) -> None:
    """Keep the file about to be replaced: a hard link (the live path gets a
    new inode when the stripped copy goes over it), else a copy."""
    try:
        os.link(live, original)
    except OSError:
        shutil.copy2(live, original)
