"""Index files decompressed in a thread while the caller parses what came
before: xz and gzip decompression release the GIL, so on two cores a Packages
index (8 MB of xz, 46 MB of text: 0.46 s of decompression and 0.5 s of
parsing on this project's machine) takes about the longer of the two instead
of their sum.  The bytes, and so the lines, are exactly those read in line."""

from __future__ import annotations

import io
import queue
import threading
from typing import Iterator

_DEPTH = 4  # blocks decompressed ahead of the reader (a few MiB each)
_END = object()


def read_ahead(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """``blocks``, produced by a thread up to a few blocks ahead.  An error
    of the producer is raised here, where the block it failed on would have
    come; closing this generator early stops the thread."""
    pending: queue.Queue = queue.Queue(maxsize=_DEPTH)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not offer(block):
                    return
            offer(_END)
        except BaseException as exc:  # handed to the reader, raised there
            offer(exc)
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="fcslim-index-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = pending.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


class BlockStream(io.RawIOBase):
    """A readable binary stream over an iterator of byte blocks (for
    :class:`io.TextIOWrapper`, which then decodes and splits lines as it
    does for any file)."""

    def __init__(self, blocks: Iterator[bytes]):
        super().__init__()
        self._blocks = blocks
        self._block = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._block:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._block = memoryview(block)
        count = min(len(buffer), len(self._block))
        buffer[:count] = self._block[:count]
        self._block = self._block[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._blocks, "close", None)
            if close is not None:
                close()
        super().close()
