"""A bundle's files as their deflate streams, so a fresh runner compresses nothing.

A build measures every file of its bundle before caching it: BLAKE3 digest,
CRC-32 and raw deflate stream, kept in the local stream store
(:mod:`fcslim.pack.streams`), which is what the report and every zip read.
When the bundle goes to the remote cache, each file the store knows travels as
the zip will hold it: its facts in a pax record (:data:`ZIP_KEY`: method, size,
CRC-32, BLAKE3, ELF) and, as the member's data, its deflate stream instead of
its bytes (stored files as they are).  The object is then about the size of the
zip (the data set: 61 MiB instead of 173 MiB), and the receiving runner:

* inflates each stream and writes the file, checking its size, CRC-32 and
  BLAKE3 against the record (a mismatch makes the object a miss: nothing
  unverified reaches the tree or the store);
* keeps the stream in its own store under the restored file's identity
  (device, inode, size, mtime), when its codec is the one that made the
  streams (:func:`fcslim.pack.deflate.codec`), so measuring and packing the
  restored bundle read and compress nothing.  Under another codec the files
  are still restored exactly; only the streams are not reused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, BinaryIO, Sequence

from blake3 import blake3
from isal import isal_zlib

from fcslim.core.hashing import BLAKE3_PREFIX
from fcslim.pack.deflate import codec
from fcslim.pack.streams import NAMESPACE, DEFLATED, STORED, Deflated, SegmentWriter, StreamRef, StreamStore

ZIP_KEY = "FCSLIM.zip"
_CHUNK = 1 << 20
_RAW = -15  # a raw deflate stream, as zips hold it
Known = tuple[Deflated, StreamRef | None]


class StreamMismatch(ValueError):
    """A member's data does not give the file its record describes."""


def zip_record(facts: Deflated) -> str:
    """The pax value of :data:`ZIP_KEY` for a file."""
    return f"{facts.method} {facts.size} {facts.crc32} {facts.digest} {int(facts.elf)}"


def parse_zip_record(text: str, stored_size: int) -> Deflated:
    """The facts a :data:`ZIP_KEY` record states (``stored_size``: the member's data size)."""
    try:
        method, size, crc, digest, elf = text.split(" ")
        facts = Deflated(digest, int(size), int(crc), stored_size, int(method), elf == "1")
    except ValueError as exc:
        raise StreamMismatch(f"malformed {ZIP_KEY} record {text[:80]!r}") from exc
    if facts.method not in (STORED, DEFLATED) or len(digest) != 64 or facts.size < 0 or \
            (facts.method == STORED and facts.size != stored_size):
        raise StreamMismatch(f"impossible {ZIP_KEY} record {text[:80]!r}")
    return facts


class TreeStreams:
    """The local stream store (of the cache at ``cache_root``, default the
    configured one), seen from the remote tree format."""

    def __init__(self, cache_root: Path | None = None):
        self.store = StreamStore(codec(), cache_root / NAMESPACE if cache_root is not None else None)
        self.codec = self.store.codec
        self._kept: list[tuple[os.stat_result, Deflated, StreamRef | None]] = []

    def known(self, paths: Sequence[Path]) -> list[Known | None]:
        """What the store knows of each regular file (by identity), with its stream."""
        return self.store.known([os.stat(p) for p in paths])

    def open_stream(self, ref: StreamRef) -> BinaryIO:
        """The stream's segment, positioned at its first byte (read exactly ``ref.length``)."""
        handle = open(self.store.directory / ref.segment, "rb")
        handle.seek(ref.offset)
        return handle

    def writer(self) -> SegmentWriter:
        return self.store.writer()

    def note(self, st: os.stat_result, facts: Deflated, ref: StreamRef | None) -> None:
        """Remember a restored file (at commit)."""
        self._kept.append((st, facts, ref))

    def commit(self) -> None:
        """Index what :meth:`note` saw; close the segments."""
        self.store.close()
        self.store.remember([(st, facts) for st, facts, _ in self._kept],
                            [(facts.digest, ref) for _, facts, ref in self._kept if ref is not None])
        self._kept.clear()

    def abandon(self) -> None:
        self.store.close()
        self._kept.clear()


def unpack_member(source: IO[bytes], facts: Deflated, target: str,
                  keep: SegmentWriter | None) -> tuple[str, StreamRef | None]:
    """Write the file ``facts`` describes to the new file ``target`` from its
    stored form (``facts.stored_size`` bytes of ``source``), appending a
    deflate stream to ``keep`` on the way.  Returns the file's digest for the
    local manifest (``blake3:<hex>``, checked on the way) and where its stream
    was kept; raises :class:`StreamMismatch` when the data
    does not give exactly the file the record names."""
    inflater = isal_zlib.decompressobj(_RAW) if facts.method == DEFLATED else None
    check = blake3()
    crc = 0
    size = 0
    start = keep.offset if keep is not None and inflater is not None else None

    def put(data: bytes) -> None:
        nonlocal crc, size
        size += len(data)
        if size > facts.size:
            raise StreamMismatch(f"inflates past the {facts.size} bytes its record states")
        check.update(data)
        crc = isal_zlib.crc32(data, crc)
        out.write(data)

    try:
        with open(target, "xb") as out:
            left = facts.stored_size
            while left:
                chunk = source.read(min(_CHUNK, left))
                if not chunk:
                    raise StreamMismatch("ends early")
                left -= len(chunk)
                if inflater is None:
                    put(chunk)
                    continue
                if start is not None:
                    keep.write(chunk)  # type: ignore[union-attr]
                data = chunk
                while data:
                    put(inflater.decompress(data, min(_CHUNK * 4, facts.size - size + 1)))
                    data = inflater.unconsumed_tail
            if inflater is not None:
                put(inflater.flush())
                if not inflater.eof or inflater.unused_data:
                    raise StreamMismatch("is not one complete deflate stream")
        if size != facts.size or crc != facts.crc32 or check.hexdigest() != facts.digest:
            raise StreamMismatch(f"gives {size} bytes with CRC-32 {crc:08x} and BLAKE3 {check.hexdigest()}, "
                                 f"not the {facts.size} bytes its record states")
    except BaseException:
        if start is not None:
            keep.handle.truncate(start)  # type: ignore[union-attr]
            keep.handle.seek(start)  # type: ignore[union-attr]
            keep.offset = start  # type: ignore[union-attr]
        raise
    ref = None if start is None else StreamRef(keep.name, start, facts.stored_size)  # type: ignore[union-attr]
    return BLAKE3_PREFIX + facts.digest, ref
