"""Decompressing the members of a ``.deb`` (``data.tar.*``, ``control.tar.*``)
with one size guard for every format: xz, gzip and bzip2 through the standard
library, zstd through the ``zstandard`` library (BSD-3-Clause; in-process, so
the guard applies to it too, and no ``zstd`` command is needed).  Output beyond
the limit is refused as a decompression bomb, never written."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from typing import BinaryIO, Callable

import zstandard

from ..core.errors import DebianError, UnsafeArchiveError
from fcslim.core.units import format_size

MAX_DATA_TAR_BYTES = 4 * 1024**3
MAX_CONTROL_TAR_BYTES = 64 * 1024**2
_CHUNK = 1 << 20
# zstd can expand an input byte into ~32 KiB (an RLE block of 128 KiB in 4
# bytes), so it is fed in 1 KiB steps: one step yields at most ~32 MiB.
_ZSTD_STEP = 1024


class MemberReader(io.RawIOBase):
    """A read-only view of ``size`` bytes at ``offset`` of an open file."""

    def __init__(self, handle: BinaryIO, offset: int, size: int):
        self._handle, self._offset, self._left = handle, offset, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        self._handle.seek(self._offset)
        data = self._handle.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._offset += len(data)
        self._left -= len(data)
        return len(data)


def compression_of(name: str, what: str) -> str:
    """"xz", "gz", "bz2", "zst" or "" (plain tar) for a member named ``name``."""
    for suffix, kind in ((".xz", "xz"), (".lzma", "xz"), (".gz", "gz"), (".bz2", "bz2"), (".zst", "zst")):
        if name.endswith(suffix):
            return kind
    if name.endswith(".tar"):
        return ""
    raise DebianError(f"{what} has a member {name!r} in a compression fcslim does not know.",
                      "Report the package; fcslim reads .xz, .gz, .bz2, .zst and plain tar members.")


def decompress(source: BinaryIO, name: str, out: BinaryIO, limit: int, what: str) -> int:
    """Write the decompressed member ``name`` read from ``source`` into
    ``out``; the byte count.  More than ``limit`` bytes raise
    :class:`UnsafeArchiveError`; corrupt or truncated data a DebianError."""
    kind = compression_of(name, what)
    written = 0

    def emit(block: bytes) -> None:
        nonlocal written
        written += len(block)
        if written > limit:
            raise UnsafeArchiveError(
                f"{name} of {what} decompresses to more than {format_size(limit, decimals=0)} (a decompression bomb?).",
                "The package was refused.")
        out.write(block)

    try:
        if kind == "zst":
            _zstd(source, emit)
        else:
            opener: Callable[[BinaryIO], BinaryIO] = {
                "xz": lambda f: lzma.open(f), "gz": lambda f: gzip.open(f), "bz2": lambda f: bz2.open(f),
                "": lambda f: f,
            }[kind]
            reader = opener(source)
            for block in iter(lambda: reader.read(_CHUNK), b""):
                emit(block)
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, ValueError) as exc:
        raise DebianError(f"{name} of {what} cannot be decompressed ({exc}).",
                          "The package is corrupt; it was not used.") from exc
    return written


def _zstd(source: BinaryIO, emit: Callable[[bytes], None]) -> None:
    """One or more concatenated zstd frames; a frame cut short is an error."""
    decompressor = zstandard.ZstdDecompressor()
    frame = decompressor.decompressobj()
    pending = b""
    started = False
    while True:
        chunk = pending or source.read(1 << 16)
        if not chunk:
            break
        pending = b""
        for start in range(0, len(chunk), _ZSTD_STEP):
            if frame.eof:
                pending = frame.unused_data + chunk[start:]
                frame = decompressor.decompressobj()
                break
            started = True
            emit(frame.decompress(chunk[start:start + _ZSTD_STEP]))
        else:
            if frame.eof and frame.unused_data:
                pending = frame.unused_data
                frame = decompressor.decompressobj()
    if not started or not frame.eof:
        raise EOFError("the zstd data ends in the middle of a frame")


