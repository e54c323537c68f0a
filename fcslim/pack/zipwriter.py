"""Deterministic zips written from streams deflated once.

Python's :mod:`zipfile` compresses what it is given; it cannot store a raw
deflate stream produced earlier.  fcslim compresses each file once (see
:mod:`fcslim.pack.deflate`) and copies the stored stream into every zip that
holds the file, so the headers are written here, following the zip
specification (APPNOTE 6.3.10, sections 4.3 and 4.5): a local header and the
data per entry, the central directory, the end record, and their zip64 forms
only when a size, an offset or the entry count needs them.

Every size is known before a byte is written, so :func:`archive_size` gives the
exact length of the archive from the same header builders the writer uses.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from fcslim.core.errors import InputError, PackError
from fcslim.pack.deflate import Packed, codec, deflate_bytes, deflate_files
from fcslim.pack.streams import DEFLATED, StreamStore, identity

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest date a zip can hold
_ZIP_LATEST = 4354819199  # 2107-12-31T23:59:59Z, the latest
_CHUNK = 1 << 20
_MARK32 = 0xFFFFFFFF  # "see the zip64 extra field"
_MARK16 = 0xFFFF
# Past these, zip64 forms are written.  As Python's zipfile: sizes and offsets
# past 2 GiB (readers with signed 32-bit fields exist), more than 65535
# entries.  Module values, so a test can lower them.
ZIP64_BYTES = (1 << 31) - 1
ZIP64_ENTRIES = _MARK16
_UNIX = 3
_FLAG_UTF8 = 0x800
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_ZIP64_EXTRA = 0x0001


@dataclass(frozen=True)
class Entry:
    """One archive member whose stored bytes are ready."""

    name: str
    size: int  # uncompressed bytes
    crc32: int
    stored_size: int  # bytes of the stream in the archive
    method: int  # STORED or DEFLATED
    mode: int  # unix permission bits (0o644 or 0o755)


def zip_date_epoch(value: str | int | None = None) -> int:
    """The timestamp every entry gets: ``value``, else ``$SOURCE_DATE_EPOCH``,
    else 1980-01-01, clamped to what a zip can store."""
    if value is None:
        value = os.environ.get("SOURCE_DATE_EPOCH") or None
    if value is None:
        return ZIP_EPOCH
    try:
        seconds = int(str(value).strip())
    except ValueError:
        raise InputError(
            f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds since 1970.",
            "Set it to an integer such as the last commit's time (`git log -1 --format=%ct`) or unset it.",
        ) from None
    return min(max(seconds, ZIP_EPOCH), _ZIP_LATEST)


def dos_date_time(epoch: int) -> tuple[int, int]:
    """The (time, date) fields of a zip header for ``epoch`` (UTC, rounded
    down to the two-second resolution DOS times have)."""
    t = time.gmtime(epoch)
    return ((t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
            ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday)


def _name(entry: Entry) -> tuple[bytes, int]:
    try:
        return entry.name.encode("ascii"), 0
    except UnicodeEncodeError:
        return entry.name.encode("utf-8"), _FLAG_UTF8


def _needs64(entry: Entry) -> bool:
    return entry.size > ZIP64_BYTES or entry.stored_size > ZIP64_BYTES


def local_header(entry: Entry, when: tuple[int, int]) -> bytes:
    name, flags = _name(entry)
    extra = b""
    size, stored = entry.size, entry.stored_size
    if _needs64(entry):
        extra = struct.pack("<HHQQ", _ZIP64_EXTRA, 16, size, stored)
        size = stored = _MARK32
    version = 45 if extra else 20
    return _LOCAL.pack(0x04034B50, version, flags, entry.method, when[0], when[1], entry.crc32,
                       stored, size, len(name), len(extra)) + name + extra


def central_header(entry: Entry, when: tuple[int, int], offset: int) -> bytes:
    name, flags = _name(entry)
    values = []
    size, stored = entry.size, entry.stored_size
    if _needs64(entry):
        values += [size, stored]
        size = stored = _MARK32
    if offset > ZIP64_BYTES:
        values.append(offset)
        offset = _MARK32
    extra = struct.pack(f"<HH{len(values)}Q", _ZIP64_EXTRA, 8 * len(values), *values) if values else b""
    version = 45 if extra else 20
    external = ((0o100000 | entry.mode) << 16) & 0xFFFFFFFF
    return _CENTRAL.pack(0x02014B50, (_UNIX << 8) | version, version, flags, entry.method, when[0], when[1],
                         entry.crc32, stored, size, len(name), len(extra), 0, 0, 0, external, offset) + name + extra


def end_records(count: int, directory_offset: int, directory_size: int, comment: bytes = b"") -> bytes:
    out = b""
    zip64 = count > ZIP64_ENTRIES or directory_offset > ZIP64_BYTES or directory_size > ZIP64_BYTES
    if zip64:
        end64_offset = directory_offset + directory_size
        out += _END64.pack(0x06064B50, _END64.size - 12, (_UNIX << 8) | 45, 45, 0, 0, count, count,
                           directory_size, directory_offset)
        out += _LOCATOR64.pack(0x07064B50, 0, end64_offset, 1)
    if zip64:
        count, directory_size, directory_offset = _MARK16, _MARK32, _MARK32
    out += _END.pack(0x06054B50, 0, 0, count, count, directory_size, directory_offset, len(comment))
    return out + comment


def _name_length(entry: Entry) -> int:
    return len(_name(entry)[0])


def archive_size(entries: Iterable[Entry], comment: bytes = b"") -> int:
    """The exact length of the archive :class:`ZipWriter` makes of ``entries``
    (the header builders' lengths, counted without building them)."""
    offset = directory = count = 0
    for entry in entries:
        name = _name_length(entry)
        wide = _needs64(entry)
        fields = (2 if wide else 0) + (1 if offset > ZIP64_BYTES else 0)
        directory += _CENTRAL.size + name + (4 + 8 * fields if fields else 0)
        offset += _LOCAL.size + name + (20 if wide else 0) + entry.stored_size
        count += 1
    zip64 = count > ZIP64_ENTRIES or offset > ZIP64_BYTES or directory > ZIP64_BYTES
    return offset + directory + _END.size + len(comment) + (_END64.size + _LOCATOR64.size if zip64 else 0)


class ZipWriter:
    """Appends entries to a binary file, then writes the directory on :meth:`close`."""

    def __init__(self, handle: BinaryIO, when: tuple[int, int]):
        self.handle = handle
        self.when = when
        self.offset = 0
        self.directory: list[bytes] = []

    def add(self, entry: Entry, chunks: Iterable[bytes]) -> None:
        header = local_header(entry, self.when)
        self.directory.append(central_header(entry, self.when, self.offset))
        self.handle.write(header)
        written = 0
        for chunk in chunks:
            self.handle.write(chunk)
            written += len(chunk)
        if written != entry.stored_size:
            raise ValueError(f"{entry.name}: {written} bytes written, {entry.stored_size} announced")
        self.offset += len(header) + written

    def close(self, comment: bytes = b"") -> int:
        start = self.offset
        size = 0
        for record in self.directory:
            self.handle.write(record)
            size += len(record)
        tail = end_records(len(self.directory), start, size, comment)
        self.handle.write(tail)
        return start + size + len(tail)


# -- a whole archive --------------------------------------------------------

@dataclass(frozen=True)
class ZipMember:
    """One entry to write: from a file (``source``) or from bytes (``data``)."""

    name: str
    size: int
    executable: bool = False
    source: Path | None = None
    data: bytes | None = None


def zip_size(entries: Iterable[tuple[str, int, int]], comment: bytes = b"") -> int:
    """The exact size of the zip :func:`write_zip` makes of ``entries``:
    (name, size, bytes stored) each."""
    return archive_size((Entry(name, size, 0, stored, DEFLATED, 0o644) for name, size, stored in sorted(entries)),
                        comment)


def _entry(member: ZipMember, facts) -> Entry:
    return Entry(member.name, facts.size, facts.crc32, facts.stored_size, facts.method,
                 0o755 if member.executable else 0o644)


class _SourceError(Exception):
    """Reading a member's bytes failed (not writing the zip)."""

    def __init__(self, path: object, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _file_chunks(source: Path) -> Iterator[bytes]:
    with open(source, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                return
            yield chunk


def _reading(path: object, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks``, with a failed read told apart from a failed write."""
    iterator = iter(chunks)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except OSError as exc:
            raise _SourceError(path, exc.strerror or str(exc)) from None
        yield chunk


def write_zip(members: Iterable[ZipMember], handle: BinaryIO, *, date_epoch: int | None = None,
              progress=None, comment: bytes = b"") -> tuple[int, int]:
    """Write ``members`` sorted by name into ``handle``; returns (entries,
    unzipped bytes).  Files are deflated through
    :func:`fcslim.pack.deflate.deflate_files`: a stream an earlier report or
    pack made is copied, not made again.  Duplicate names, unreadable files
    and files that change while they are packed are a :class:`PackError`."""
    ordered = sorted(members, key=lambda m: m.name)
    for a, b in zip(ordered, ordered[1:]):
        if a.name == b.name:
            raise PackError(f"Two files would be stored as {a.name} in the zip.",
                            "Rename one of them (the user code and the bundle overlap?) and pack again.")
    when = dos_date_time(zip_date_epoch(date_epoch))
    files = [m for m in ordered if m.data is None]
    store = StreamStore(codec())
    try:
        before = [identity(os.stat(m.source)) for m in files]  # type: ignore[arg-type]
        packed: dict[str, Packed] = dict(zip((m.name for m in files), deflate_files(
            [m.source for m in files], store=store, advance=progress.advance if progress else None)))  # type: ignore[misc]
    except OSError as exc:
        raise PackError(f"Cannot read {exc.filename} to pack it ({exc.strerror or exc}).",
                        "Check the file's permissions, or remove it from the bundle.") from exc
    writer = ZipWriter(handle, when)
    unzipped = 0
    for member in ordered:
        if member.data is not None:
            facts, stream = deflate_bytes(member.data)
            chunks: Iterable[bytes] = [stream]
        else:
            facts, ref = packed[member.name]
            if facts.size != member.size:
                raise PackError(f"{member.source} changed size while it was packed.",
                                "Make sure nothing writes into the bundle during `fcslim pack`.")
            chunks = (_reading(f"the cached stream of {member.source}", store.read(ref)) if ref is not None
                      else _reading(member.source, _file_chunks(member.source)))  # type: ignore[arg-type]
        try:
            writer.add(_entry(member, facts), chunks)
        except _SourceError as exc:
            raise PackError(f"Cannot read {exc.path} to pack it ({exc.reason}).",
                            "Check the file's permissions, or run `fcslim cache clean deflate` if it is "
                            "a cached stream.") from None
        unzipped += facts.size
    writer.close(comment)
    after = [identity(os.stat(m.source)) for m in files]  # type: ignore[arg-type]
    if after != before:
        changed = next(m.source for m, b, a in zip(files, before, after) if a != b)
        raise PackError(f"{changed} changed while it was packed.",
                        "Make sure nothing writes into the bundle during `fcslim pack`.")
    return len(ordered), unzipped
