"""A large remote object as several content-addressed parts, moved in parallel.

A bundle is one stream (a tar, :mod:`fcslim.cache.treepack`), cut into parts
of :data:`PART_SIZE` bytes, each stored under its own SHA-256.  Parts upload and
download on several threads (one request per part: object stores serve
separate objects in parallel far better than one long GET, and ranged GETs of
one object cost the whole object on some servers), while the reader consumes
the stream in order:

* :class:`PartWriter` is the sink the tar is written into: it rolls over to a
  new scratch file every :data:`PART_SIZE` bytes, hashing each on the way;
  :func:`write_parts` publishes each part on a worker thread as soon as it is
  complete, while the next is being written.
* :class:`PartReader` downloads the parts to scratch files, at most
  :data:`AHEAD` at a time (memory stays at a few read buffers; disk at
  ``AHEAD`` parts), hashes each while it arrives, and serves them in order to
  ``read()``.  A part whose bytes do not match its name raises
  :class:`PartMismatch`; a missing one ``FileNotFoundError``; any other
  failure of the download :class:`fcslim.cache.streams.TransportError`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Callable, TypeVar

from fcslim.cache.streams import TransportError

PART_SIZE = 8 << 20  # small enough that the first part arrives soon, big enough for few requests
AHEAD = 4  # parts downloading at once (and at most this many waiting on disk)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    sha256: str
    size: int


class PartMismatch(Exception):
    """A downloaded part's bytes do not match the SHA-256 it is stored under."""

    def __init__(self, part: Part, got_sha256: str, got_size: int):
        super().__init__(f"part {part.sha256} has {got_size} bytes with SHA-256 {got_sha256}, "
                         f"not {part.size} bytes")
        self.part = part


class PartWriter:
    """A write-only stream that lands in scratch files of at most ``part_size`` bytes."""

    def __init__(self, scratch: Path, part_size: int | None = None,
                 on_part: Callable[[Path, Part], None] | None = None):
        self.scratch = scratch
        self.part_size = part_size or PART_SIZE
        self.on_part = on_part
        self.files: list[tuple[Path, Part]] = []
        self.whole = hashlib.sha256()
        self.size = 0
        self._handle: BinaryIO | None = None
        self._name = ""
        self._digest = hashlib.sha256()
        self._written = 0

    def _roll(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            done = (Path(self._name), Part(self._digest.hexdigest(), self._written))
            self.files.append(done)
            if self.on_part is not None:
                self.on_part(*done)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self.whole.update(view)
        self.size += len(view)
        while view:
            if self._handle is None:
                fd, self._name = tempfile.mkstemp(prefix=".part-", dir=self.scratch)
                self._handle = os.fdopen(fd, "wb")
                self._digest = hashlib.sha256()
                self._written = 0
            room = self.part_size - self._written
            piece = view[:room]
            self._handle.write(piece)
            self._digest.update(piece)
            self._written += len(piece)
            view = view[len(piece):]
            if self._written >= self.part_size:
                self._roll()
        return len(data)

    def close(self) -> list[tuple[Path, Part]]:
        """Finish the last part; the parts in order with their scratch files."""
        self._roll()
        return self.files

    def discard(self) -> None:
        """Remove every scratch file (nothing more is handed on)."""
        self.on_part = None
        self._roll()
        for path, _ in self.files:
            path.unlink(missing_ok=True)


_T = TypeVar("_T")


def write_parts(write: Callable[[PartWriter], object], publish: Callable[[Path, Part], int], scratch: Path,
                workers: int = AHEAD) -> tuple[PartWriter, int]:
    """``write(sink)`` a stream into parts, each handed to ``publish(path,
    part)`` on a worker thread as soon as it is complete; returns the sink
    (its parts, size and whole digest) and the sum of what ``publish``
    returned.  A failure of ``publish`` is raised as :class:`TransportError`
    once the writing is done (the parts not yet sent are then not sent)."""
    futures: list[Future] = []
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="fcslim-put") as pool:
        sink = PartWriter(scratch, on_part=lambda path, part: futures.append(pool.submit(publish, path, part)))
        try:
            write(sink)
            sink.close()
            sent = 0
            for future in futures:
                try:
                    sent += future.result()
                except (TypeError, AttributeError, NameError, AssertionError):
                    raise
                except Exception as exc:
                    raise TransportError(exc) from exc
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            pool.shutdown(wait=True)
            sink.discard()
    return sink, sent


def _remote(call: Callable[[], _T]) -> _T:
    """``call()``, a request to the remote: its failures become TransportError
    (a missing object stays FileNotFoundError; bugs pass through)."""
    try:
        return call()
    except (FileNotFoundError, TypeError, AttributeError, NameError, AssertionError):
        raise
    except Exception as exc:
        raise TransportError(exc) from exc


class PartReader:
    """The concatenation of ``parts``, fetched by ``open_part(part)`` (a binary
    stream of the part's object) on worker threads (see the module docstring)."""

    def __init__(self, parts: list[Part], open_part: Callable[[Part], IO[bytes]], scratch: Path,
                 workers: int = AHEAD):
        self.parts = parts
        self._open_part = open_part
        self._scratch = scratch
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="fcslim-part")
        self._ahead = max(1, workers)
        self._futures: dict[int, Future] = {}
        self._next_submit = 0
        self._index = 0
        self._current: BinaryIO | None = None
        self._current_path: Path | None = None
        self._fill()

    def _fetch(self, part: Part) -> Path:
        fd, name = tempfile.mkstemp(prefix=".get-", dir=self._scratch)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                raw = _remote(lambda: self._open_part(part))
                try:
                    while size <= part.size:
                        chunk = _remote(lambda: raw.read(_CHUNK))
                        if not chunk:
                            break
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                finally:
                    try:
                        raw.close()
                    except Exception:  # closing a half-read response: nothing left to lose
                        pass
            if size != part.size or digest.hexdigest() != part.sha256:
                raise PartMismatch(part, digest.hexdigest(), size)
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    def _fill(self) -> None:
        while self._next_submit < len(self.parts) and self._next_submit < self._index + self._ahead:
            self._futures[self._next_submit] = self._pool.submit(self._fetch, self.parts[self._next_submit])
            self._next_submit += 1

    def _advance(self) -> bool:
        self._drop_current()
        if self._index >= len(self.parts):
            return False
        path = self._futures.pop(self._index).result()  # raises what the download raised
        self._index += 1
        self._fill()
        self._current_path = path
        self._current = open(path, "rb")
        return True

    def _drop_current(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        if self._current_path is not None:
            self._current_path.unlink(missing_ok=True)
            self._current_path = None

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        while True:
            if self._current is not None:
                data = self._current.read(n)
                if data or n == 0:
                    return data
            if not self._advance():
                return b""

    def close(self) -> None:
        """Stop fetching and remove every scratch file."""
        self._drop_current()
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=True)
        for future in self._futures.values():
            if not future.cancelled() and future.exception() is None:
                future.result().unlink(missing_ok=True)
        self._futures.clear()

    def __enter__(self) -> "PartReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
