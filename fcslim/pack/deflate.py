"""Each file of a bundle deflated once, kept by content, reused by every zip.

Measuring a bundle and packing it both need every file's deflated stream: the
report to state the exact zip size, the packer to write it.  Both call
:func:`deflate_files`, which reads each file once (hashing it with BLAKE3,
taking its CRC-32 and compressing it in the same pass, on every core) and keeps
the raw deflate stream in the cache (:mod:`fcslim.pack.streams`).  A file met
before (same device, inode, size and modification time) is not read again; the
zip writer copies stored streams (:mod:`fcslim.pack.zipwriter`).

The codec is ISA-L at level 3 (the ``isal`` package): on the data set (214 MiB,
5,240 files) on this project's 2-core machine, zlib 6 ran at 12 MiB/s, zlib-ng 6
at 23 MiB/s for 2% more bytes, ISA-L 3 at 340-490 MiB/s for 11% more bytes
(bench/README.md).  Only ISA-L leaves compression a small part of a build.
No deflate implementation promises the same bytes across versions or CPUs
(zlib's output depends on the system's libz; ISA-L and zlib-ng pick code paths
by CPU features), so :func:`codec` names the package and library versions and a
digest of a fixed sample compressed here: another code path is another codec,
streams of one never mix with another's, and the same inputs give the same
bytes wherever the codec is the same.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

import isal
from blake3 import blake3
from isal import isal_zlib

from fcslim.pack.streams import DEFLATED, STORED, Deflated, StreamRef, StreamStore

Packed = Tuple[Deflated, Optional[StreamRef]]  # a file's facts and where its stream is (None: stored as is)

LEVEL = 3
_CHUNK = 1 << 20
_RAW = -15  # wbits: a raw deflate stream, as zips hold it
_ELF_MAGIC = b"\x7fELF"
_BATCH = 64


def _sample() -> bytes:
    """A fixed input with both text-like repeats and noise."""
    text = b"".join(b"%d %d %s\n" % (i, i * i % 9973, b"abcdefgh"[: i % 8]) for i in range(3000))
    noise = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(512))
    return text + noise + text[::-1]


@lru_cache(maxsize=1)
def codec() -> str:
    """The name of this machine's deflate: library, version, level, behaviour."""
    probe = blake3(isal_zlib.compress(_sample(), LEVEL, _RAW)).hexdigest()[:12]
    return f"isal-{isal.__version__}-{isal.ISAL_VERSION}-l{LEVEL}-{probe}"


def deflate_bytes(data: bytes) -> tuple[Deflated, bytes]:
    """Deflate bytes held in memory (generated files such as the split loader)."""
    stream = isal_zlib.compress(data, LEVEL, _RAW)
    crc = isal_zlib.crc32(data)
    digest = blake3(data).hexdigest()
    if len(stream) >= len(data):
        return Deflated(digest, len(data), crc, len(data), STORED, data[:4] == _ELF_MAGIC), data
    return Deflated(digest, len(data), crc, len(stream), DEFLATED, data[:4] == _ELF_MAGIC), stream


def deflate_file(path: str | os.PathLike, store: StreamStore) -> tuple[Deflated, StreamRef | None]:
    """Read ``path`` once: digest, CRC-32 and the deflate stream, appended to
    this thread's segment of ``store`` (None when storing the file as is is
    smaller, and the segment is rolled back)."""
    hasher = blake3()
    crc = 0
    size = 0
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, _RAW)
    writer = store.writer()
    start = writer.offset
    head = b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            if not head:
                head = chunk[:4]
            hasher.update(chunk)
            crc = isal_zlib.crc32(chunk, crc)
            size += len(chunk)
            writer.write(compressor.compress(chunk))
    writer.write(compressor.flush())
    length = writer.offset - start
    digest = hasher.hexdigest()
    elf = head == _ELF_MAGIC
    if length >= size:
        writer.handle.truncate(start)
        writer.handle.seek(start)
        writer.offset = start
        return Deflated(digest, size, crc, size, STORED, elf), None
    return Deflated(digest, size, crc, length, DEFLATED, elf), StreamRef(writer.name, start, length)


def known_digests(stats: Sequence[os.stat_result]) -> list[str | None]:
    """The BLAKE3 hex digest of each file the stream store has met with the
    same identity (device, inode, size, modification time), else None: a
    bundle just measured need not be read again to be hashed."""
    return [None if known is None else known[0].digest for known in StreamStore(codec()).known(stats)]


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def deflate_files(paths: Sequence[Path], *, store: StreamStore | None = None,
                  advance: Callable[[int], None] | None = None) -> list[Packed]:
    """Every file's :class:`Deflated` facts and where its stream is,
    compressing only the files the store does not know (or whose stream it
    lost).  ``advance`` is told the bytes of each file as it is done."""
    store = store or StreamStore(codec())
    stats = [os.stat(p) for p in paths]
    results = store.known(stats)
    todo = [i for i, known in enumerate(results) if known is None]
    if advance is not None:
        advance(sum(known[0].size for known in results if known is not None))
    lock = threading.Lock()

    def one(i: int) -> None:
        packed = deflate_file(paths[i], store)  # as given: a new Path per file was a tenth of small files' time
        results[i] = packed
        if advance is not None:
            with lock:
                advance(packed[0].size)

    try:
        # Largest first, so that one big file does not run alone at the end;
        # batches keep the number of pending futures small.
        order = sorted(todo, key=lambda i: -stats[i].st_size)
        if len(order) < _BATCH or _workers() == 1:
            for i in order:
                one(i)
        else:
            batches = [order[k:k + _BATCH] for k in range(0, len(order), _BATCH)]
            with ThreadPoolExecutor(_workers()) as pool:
                for _ in pool.map(lambda batch: [one(i) for i in batch], batches):
                    pass
    finally:
        store.close()
    done: list[Packed] = [r for r in results if r is not None]
    store.remember([(stats[i], done[i][0]) for i in todo],
                   [(done[i][0].digest, done[i][1]) for i in todo if done[i][1] is not None])  # type: ignore[misc]
    return done
