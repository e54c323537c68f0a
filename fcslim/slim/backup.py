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
from fcslim.slim.strip import strip_debug_copy
from fcslim.slim.tree import tree_files

BACKUP_DIR = ".fcslim/slim-backup"


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
        for action in sorted(wanted - self.applied, key=lambda a: a.path):
            if self._apply(action):
                self.applied.add(action)
                if action.kind == "delete":
                    touched_dirs.add(str(Path(action.path).parent))
        self._prune(touched_dirs)

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
