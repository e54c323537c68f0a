"""Packages and Contents indexes: what they say, parsed into the small maps
fcslim keeps (package name -> newest entry; library file name -> where and in
which packages)."""

from __future__ import annotations

import io
import lzma
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, Mapping

from isal import isal_zlib

from .readahead import BlockStream, read_ahead

from .deb822 import iter_stanzas
from .versions import compare_versions


@dataclass(frozen=True)
class PackageEntry:
    """One binary package as a Packages index lists it."""

    name: str
    version: str
    architecture: str
    filename: str
    size: int
    sha256: str
    source: str
    source_version: str
    mirror: str
    suite: str

    @property
    def url(self) -> str:
        return f"{self.mirror}/{self.filename}"


# A package as the parsed-index cache keeps it: these fields, in this order
# (the mirror and suite are not kept: the same index may come from several mirrors).
Row = list  # [version, architecture, filename, size, sha256, source, source_version]


class PackageIndex(Mapping[str, PackageEntry]):
    """Package name -> newest :class:`PackageEntry` of one suite on one mirror.
    Rows are turned into entries only when looked up: a Packages index has
    60,000 packages and a fetch looks at a dozen."""

    def __init__(self, rows: dict[str, Row], mirror: str, suite: str):
        self._rows, self.mirror, self.suite = rows, mirror, suite

    def __getitem__(self, name: str) -> PackageEntry:
        version, arch, filename, size, sha256, source, source_version = self._rows[name]
        return PackageEntry(name, version, arch, filename, int(size), sha256, source, source_version,
                            self.mirror, self.suite)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> dict[str, Row]:
        """The rows, for the parsed-index cache."""
        return self._rows

    @classmethod
    def from_rows(cls, rows: object, mirror: str, suite: str) -> "PackageIndex | None":
        """An index over cached rows; None when they are not rows of this layout."""
        if not isinstance(rows, dict) or not all(isinstance(r, list) and len(r) == 7 for r in rows.values()):
            return None
        return cls(rows, mirror, suite)


_PACKAGE_FIELDS = frozenset(("Package", "Version", "Architecture", "Filename", "Size", "SHA256", "Source"))
_SHA256 = re.compile(r"[0-9a-f]{64}")


def parse_packages(lines: Iterable[str], mirror: str, suite: str) -> PackageIndex:
    """The newest entry of each package, from the lines of a Packages index.
    Stanzas without a file, a size or a well-formed SHA256 are skipped: a
    package fcslim cannot verify is never offered."""
    rows: dict[str, Row] = {}
    for fields in iter_stanzas(lines, _PACKAGE_FIELDS):
        if not all(k in fields for k in ("Package", "Version", "Filename", "SHA256", "Size")):
            continue
        if not fields["Size"].isdigit() or not _SHA256.fullmatch(fields["SHA256"]):
            continue
        name, version = fields["Package"], fields["Version"]
        old = rows.get(name)
        if old is not None and compare_versions(version, old[0]) <= 0:
            continue
        src_name, _, rest = fields.get("Source", name).partition(" ")
        rows[name] = [version, fields.get("Architecture", ""), fields["Filename"], int(fields["Size"]),
                      fields["SHA256"], src_name, rest.strip(" ()") or version]
    return PackageIndex(rows, mirror, suite)


_LIB_PREFIXES = ("lib/", "usr/lib/", "lib64/", "usr/lib64/")
_SKIPPED_LIB_TREES = ("usr/lib/debug/", "usr/lib/python", "usr/lib/jvm/")
_SO_NAME = re.compile(r"\.so(\.[0-9][^/]*)?$")


def parse_contents(stream: Iterable[bytes]) -> dict[str, list[list[str]]]:
    """File name -> [[path, package, ...], ...] for the shared libraries of a
    Contents index: ``*.so`` and ``*.so.*`` files in the library directories and
    at most two levels below them (``blas/libblas.so.3`` alternatives), never
    debug symbols or Python extension modules."""
    found: dict[str, list[list[str]]] = {}
    for raw in stream:
        if b".so" not in raw:
            continue
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            continue
        path, locations = parts[0].strip(), parts[1]
        if path.startswith("./"):
            path = path[2:]
        if not path.startswith(_LIB_PREFIXES) or path.startswith(_SKIPPED_LIB_TREES):
            continue
        if path.count("/") > 4:
            continue
        name = posixpath.basename(path)
        if not _SO_NAME.search(name):
            continue
        packages = [loc.rsplit("/", 1)[-1] for loc in locations.split(",") if loc]
        found.setdefault(name, []).append([path] + packages)
    return found


# Compressed bytes read at a time: a block of gzip (a Contents index) inflates
# about twelvefold, one of xz (Packages) sixfold; with a few blocks queued
# ahead (fcslim.debian.readahead) this keeps the decompressed text in memory
# to a few tens of MiB.
_BLOCK = {".gz": 1 << 18, ".xz": 1 << 20}
_PLAIN_BLOCK = 1 << 20


def _decompressor(name: str):
    if name.endswith(".xz"):
        return lzma.LZMADecompressor()
    if name.endswith(".gz"):
        # ISA-L (already fcslim's deflate) inflates twice as fast as zlib here:
        # 0.12 s of CPU instead of 0.27 s for bullseye's 130 MB Contents.
        return isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
    return None


def _decompressed_blocks(path: Path, name: str) -> Iterator[bytes]:
    """The bytes of an index file, decompressed by its published name, in
    blocks (gzip and xz files of several members or streams included); a
    compressed file cut short raises EOFError, as :mod:`gzip` and :mod:`lzma` do."""
    decompressor = _decompressor(name)
    size = _BLOCK.get(Path(name).suffix, _PLAIN_BLOCK)
    fed = False  # the current decompressor has had input
    with open(path, "rb") as handle:
        while True:
            block = handle.read(size)
            if not block:
                break
            if decompressor is None:
                yield block
                continue
            while block:
                fed = True
                yield decompressor.decompress(block)
                if not decompressor.eof:
                    break
                block = decompressor.unused_data
                decompressor, fed = _decompressor(name), False
    if decompressor is not None and fed:
        raise EOFError(f"{name} ended before the end of its compressed stream")


def lines_containing(path: Path, name: str, needle: bytes) -> Iterator[bytes]:
    """The lines of an index file that contain ``needle``, without their
    newline, found with :meth:`bytes.find` in blocks decompressed whole: a
    Contents index is 130 MB in 1.5 million lines, of which 60,000 name a
    shared library; reading it line by line through :mod:`gzip` cost a second
    of CPU, most of it in Python per line."""
    tail = b""
    for block in _decompressed_blocks(path, name):
        data = tail + block
        end = data.rfind(b"\n") + 1
        tail = data[end:]
        at = data.find(needle, 0, end)
        while at != -1:
            start = data.rfind(b"\n", 0, at) + 1
            stop = data.find(b"\n", at, end)
            yield data[start:stop]
            at = data.find(needle, stop, end)
    if needle in tail:
        yield tail


def open_index(path: Path, name: str, text: bool) -> IO:
    """An index file opened for streaming, decompressed by its published name
    (``.xz``, ``.gz`` or plain); compressed ones are decompressed a few
    blocks ahead in a thread (:mod:`fcslim.debian.readahead`)."""
    if _decompressor(name) is None:
        return open(path, "rt" if text else "rb", encoding="utf-8" if text else None,
                    errors="replace" if text else None)
    stream = io.BufferedReader(BlockStream(read_ahead(_decompressed_blocks(path, name))), _PLAIN_BLOCK)
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace") if text else stream
