"""Streams the remote store reads and writes through: hashing on the way, and
a download that runs ahead of its reader in a thread."""

from __future__ import annotations

import hashlib
import queue
import threading
from typing import IO

_CHUNK = 1 << 20


class HashingReader:
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


class TransportError(Exception):
    """The download itself failed (network, server): the remote's fault, not the bytes'."""


class Prefetcher:
    """Reads ``raw`` ahead in a thread (a few blocks at most), so the download
    overlaps the hashing and unpacking of what already arrived."""

    _DEPTH = 4

    def __init__(self, raw: IO[bytes], block: int = 8 << 20):
        self._queue: queue.Queue = queue.Queue(self._DEPTH)
        self._block = b""
        self._offset = 0
        self._done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(raw, block), daemon=True)
        self._thread.start()

    def _pump(self, raw: IO[bytes], block: int) -> None:
        try:
            while not self._stop.is_set():
                data = raw.read(block)
                self._queue.put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, which raises it
            self._queue.put(exc)

    def read(self, n: int = -1) -> bytes:
        parts = []
        wanted = n
        while wanted != 0:
            if self._offset >= len(self._block):
                if self._done:
                    break
                item = self._queue.get()
                if isinstance(item, BaseException):
                    raise TransportError(item) from item
                self._block, self._offset = item, 0
                if not item:
                    self._done = True
                    break
            end = len(self._block) if wanted < 0 else min(len(self._block), self._offset + wanted)
            parts.append(self._block[self._offset:end])
            if wanted > 0:
                wanted -= end - self._offset
            self._offset = end
        return b"".join(parts)

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
