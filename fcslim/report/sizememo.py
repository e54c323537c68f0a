"""Deflated sizes remembered across builds, by inode.

Installs hard-link files out of uv's cache and warm rebuilds hard-link them
out of the bundle cache, so the same file (same device, inode, size and mtime)
turns up in build after build.  Its deflated size cannot have changed, so the
report looks it up here instead of compressing it again.  Only files with more
than one link are remembered (the ones shared with a cache), which bounds the
table to what the caches hold.  The memo is an optimisation: any sqlite error
means "not known", never a failed report.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Sequence

from fcslim.cache.location import cache_subdir

_SCHEMA = """CREATE TABLE IF NOT EXISTS deflated (
    dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER, level INTEGER,
    deflated INTEGER, elf INTEGER, PRIMARY KEY (dev, ino, size, mtime_ns, level))"""


def _key(st: os.stat_result, level: int) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, level)


class InodeSizeMemo:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else cache_subdir("sizes") / "deflated-v1.sqlite"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute(_SCHEMA)
        return db

    def lookup(self, stats: Sequence[os.stat_result], level: int) -> list[tuple[int, bool] | None]:
        """(deflated, is ELF) for each stat result that is remembered, else None."""
        found: list[tuple[int, bool] | None] = [None] * len(stats)
        wanted = [(i, _key(st, level)) for i, st in enumerate(stats) if st.st_nlink > 1]
        if not wanted:
            return found
        try:
            with self._connect() as db:
                for i, key in wanted:
                    row = db.execute(
                        "SELECT deflated, elf FROM deflated WHERE dev=? AND ino=? AND size=? AND mtime_ns=? "
                        "AND level=?", key).fetchone()
                    if row:
                        found[i] = (int(row[0]), bool(row[1]))
        except (sqlite3.Error, OSError):
            return [None] * len(stats)
        return found

    def remember(self, entries: Sequence[tuple[os.stat_result, int, bool]], level: int) -> None:
        rows = [_key(st, level) + (deflated, int(elf)) for st, deflated, elf in entries if st.st_nlink > 1]
        if not rows:
            return
        try:
            with self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO deflated VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except (sqlite3.Error, OSError):
            pass
