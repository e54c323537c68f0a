"""The inventory side of a local cache namespace: what entries it holds,
how much disk it takes, and removing the ones not used for a while.

:class:`fcslim.cache.local.LocalCache` inherits it; the entry layout and
the locking rules are that module's (see its docstring).
"""

from __future__ import annotations

import time
from pathlib import Path

from fcslim.cache.entries import DATA, META, TREE, CacheEntry, read_meta
from fcslim.cache.fsops import disk_usage
from fcslim.cache.keys import KEY_RE, OLD_MARK, TMP_MARK
from fcslim.cache.locks import flock
from fcslim.core.files import remove_tree


class LocalInventory:
    """Inventory and cleaning of one namespace (mixed into LocalCache)."""

    namespace: str
    path: Path

    def lock_path(self, key: str) -> Path:  # provided by LocalCache
        raise NotImplementedError

    def _sweep_shard(self, shard: Path) -> int:  # provided by LocalCache
        raise NotImplementedError

    def entries(self) -> list[CacheEntry]:
        """Every complete entry (leftovers of interrupted writes are not entries)."""
        found: list[CacheEntry] = []
        if not self.path.is_dir():
            return found
        for shard in sorted(self.path.iterdir()):
            if shard.name.startswith(".") or not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                name = entry.name
                if TMP_MARK in name or OLD_MARK in name or not KEY_RE.match(name):
                    continue
                meta = read_meta(entry)
                if not meta or meta.get("corrupt") or meta.get("kind") not in ("file", "tree"):
                    continue
                try:
                    used = (entry / META).stat().st_mtime
                except OSError:
                    continue
                kind = meta["kind"]
                found.append(CacheEntry(
                    namespace=self.namespace, key=name, kind=kind,
                    path=entry / (DATA if kind == "file" else TREE),
                    size=int(meta.get("size") or 0),
                    files=1 if kind == "file" else int(meta.get("file_count") or 0),
                    created=float(meta.get("created") or used), last_used=used,
                ))
        return found

    def size(self) -> int:
        """Bytes the namespace occupies on disk (entries, leftovers, locks)."""
        return disk_usage(self.path) if self.path.exists() else 0

    def clean(self, older_than: float | None = None) -> int:
        """Remove entries not used for ``older_than`` seconds (all, if None).

        Entries whose lock another process holds are skipped.  Leftovers of
        interrupted writes, unreadable entries and unused lock files go too.
        Returns the bytes freed.
        """
        if not self.path.is_dir():
            return 0
        now = time.time()
        freed = 0
        for shard in list(self.path.iterdir()):
            if shard.name.startswith(".") or not shard.is_dir():
                continue
            freed += self._sweep_shard(shard)
            for entry in list(shard.iterdir()):
                name = entry.name
                if TMP_MARK in name or OLD_MARK in name:
                    continue
                if not KEY_RE.match(name):
                    continue
                try:
                    used = (entry / META).stat().st_mtime
                except OSError:
                    used = None  # no meta: an unreadable entry, always removed
                if used is not None and older_than is not None and now - used < older_than:
                    continue
                with flock(self.lock_path(name), blocking=False) as held:
                    if not held:
                        continue
                    size = disk_usage(entry)
                    remove_tree(entry)
                    freed += size
            try:
                shard.rmdir()
            except OSError:
                pass
        locks = self.path / ".locks"
        if locks.is_dir():
            for lock_file in list(locks.iterdir()):
                key = lock_file.name[: -len(".lock")]
                if KEY_RE.match(key) and not (self.path / key[:2] / key).exists():
                    with flock(lock_file, blocking=False) as held:
                        if held:
                            try:
                                lock_file.unlink()
                            except FileNotFoundError:
                                pass
        return freed

