"""Reading a ``.deb`` safely, without unpacking it to disk by path.

:class:`DebArchive` reads the ``ar`` container and the data tarball itself,
checks *every* member first (no absolute names, no ``..``, no hard link outside
the archive, no relative symbolic link climbing above the package root, no
device, FIFO or other special file) and refuses the whole package if one is
hostile.  Callers then ask for the bytes of a member by name; symbolic links
are followed inside the archive's own member table (an absolute link target
means the package root, as dpkg would install it), so nothing outside the
archive is ever read or written.  Decompression goes through
:mod:`fcslim.debian.decompress` and its size guard.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..core.errors import DebianError, UnsafeArchiveError
from .deb822 import parse_deb822
from .decompress import MAX_CONTROL_TAR_BYTES, MAX_DATA_TAR_BYTES, MemberReader, decompress

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArMember:
    name: str
    offset: int
    size: int


def read_ar_members(handle: BinaryIO, what: str) -> list[ArMember]:
    """The members of an ``ar`` archive (the .deb container), checked: the
    global header, each 60-byte header's size and terminator, names without
    slashes, members inside the file."""
    handle.seek(0, os.SEEK_END)
    total = handle.tell()
    handle.seek(0)
    if handle.read(8) != b"!<arch>\n":
        raise DebianError(f"{what} is not a Debian package (no ar header).",
                          "The file is corrupt or not a .deb; it was not used.")
    members: list[ArMember] = []
    offset = 8
    while offset < total:
        handle.seek(offset)
        header = handle.read(60)
        if len(header) < 60 or header[58:60] != b"`\n":
            raise UnsafeArchiveError(f"{what} has a malformed ar member header at byte {offset}.",
                                     "The package is corrupt or hostile; it was not used.")
        name = header[:16].decode("ascii", errors="replace").strip()
        if name.endswith("/"):
            name = name[:-1]
        size_text = header[48:58].decode("ascii", errors="replace").strip()
        if not size_text.isdigit():
            raise UnsafeArchiveError(f"{what} has an ar member with an invalid size {size_text!r}.",
                                     "The package is corrupt or hostile; it was not used.")
        size = int(size_text)
        start = offset + 60
        if start + size > total:
            raise UnsafeArchiveError(f"{what}: ar member {name!r} runs past the end of the file.",
                                     "The package is truncated or hostile; it was not used.")
        if not name or "/" in name or name in (".", ".."):
            raise UnsafeArchiveError(f"{what} has an ar member with an unsafe name {name!r}.",
                                     "The package is hostile; it was not used.")
        members.append(ArMember(name, start, size))
        offset = start + size + (size & 1)
    return members


@dataclass(frozen=True)
class TarEntry:
    """A checked member of a package's data tarball."""

    name: str  # normalised, relative to the package root, no leading ./
    kind: str  # "file", "dir", "symlink", "hardlink"
    size: int
    target: str | None = None  # symlink: as written; hardlink: normalised member name
    info: tarfile.TarInfo | None = field(default=None, compare=False, repr=False)


def normalise_member(name: str, what: str) -> str:
    if "\x00" in name:
        raise UnsafeArchiveError(f"{what} has a member name with a NUL byte.", "The package was not used.")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"{what} has a member with an absolute path: {name!r}.",
                                 "A Debian package never has one; the package was refused.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{what} has a member whose path climbs out of the tree: {name!r}.",
                                 "The package is hostile; it was refused.")
    return "/".join(parts)


def check_symlink(member: str, target: str, what: str) -> None:
    if "\x00" in target:
        raise UnsafeArchiveError(f"{what}: symbolic link {member!r} has a NUL byte in its target.",
                                 "The package was refused.")
    if target.startswith("/"):
        return  # resolved against the package root, never the host's /
    depth = len(member.split("/")) - 1
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise UnsafeArchiveError(
                    f"{what}: symbolic link {member!r} -> {target!r} points outside the package tree.",
                    "The package is hostile; it was refused.")
        elif part not in ("", "."):
            depth += 1


def check_members(tar: tarfile.TarFile, what: str) -> dict[str, TarEntry]:
    """Every member of the data tarball, checked; the first hostile one
    refuses the whole package."""
    entries: dict[str, TarEntry] = {}
    try:
        members = tar.getmembers()
    except tarfile.TarError as exc:
        raise DebianError(f"The data tarball of {what} is malformed ({exc}).",
                          "The package is corrupt; it was not used.") from exc
    for info in members:
        name = normalise_member(info.name, what)
        if info.isdev() or info.isfifo() or not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
            kind = ("character device" if info.ischr() else "block device" if info.isblk()
                    else "FIFO" if info.isfifo() else f"special file (type {info.type!r})")
            raise UnsafeArchiveError(f"{what} has a {kind} member {info.name!r}.",
                                     "A library package never has one; the package was refused.")
        if not name:
            if info.isdir():
                continue
            raise UnsafeArchiveError(f"{what} has a non-directory member naming the tree root.",
                                     "The package was refused.")
        if info.issym():
            check_symlink(name, info.linkname, what)
            entries[name] = TarEntry(name, "symlink", 0, info.linkname, info)
        elif info.islnk():
            target = normalise_member(info.linkname, what)
            if target not in entries or entries[target].kind != "file":
                raise UnsafeArchiveError(
                    f"{what}: hard link {info.name!r} points to {info.linkname!r}, which is not a "
                    "regular file earlier in the package.", "The package is hostile; it was refused.")
            entries[name] = TarEntry(name, "hardlink", entries[target].size, target, info)
        elif info.isdir():
            entries[name] = TarEntry(name, "dir", 0, None, info)
        else:
            entries[name] = TarEntry(name, "file", info.size, None, info)
    return entries


class DebArchive:
    """A ``.deb`` opened for reading: its control fields and its checked data
    members.  Use as a context manager; nothing is written outside the
    temporary directory that holds the decompressed tarballs."""

    def __init__(self, path: Path, what: str | None = None):
        self.path = Path(path)
        self.what = what or self.path.name
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._tar: tarfile.TarFile | None = None
        self.entries: dict[str, TarEntry] = {}
        self.control: dict[str, str] = {}

    def __enter__(self) -> "DebArchive":
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _open(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="fcslim-deb-")
        work = Path(self._tmp.name)
        with open(self.path, "rb") as handle:
            members = read_ar_members(handle, self.what)
            names = [m.name for m in members]
            if not names or names[0] != "debian-binary":
                raise DebianError(f"{self.what} is not a Debian binary package (first member {names[:1]}).",
                                  "The file is corrupt or not a .deb; it was not used.")
            data = [m for m in members if m.name.startswith("data.tar")]
            control = [m for m in members if m.name.startswith("control.tar")]
            if len(data) != 1:
                raise DebianError(f"{self.what} has {len(data)} data.tar members; a package has exactly one.",
                                  "The package is corrupt or hostile; it was not used.")
            if control:
                self.control = self._read_control(handle, control[0], work / "control.tar")
            data_path = work / "data.tar"
            with open(data_path, "wb") as out:
                decompress(MemberReader(handle, data[0].offset, data[0].size), data[0].name, out,
                           MAX_DATA_TAR_BYTES, self.what)
        self._tar = tarfile.open(data_path, "r:")
        self.entries = check_members(self._tar, self.what)

    def _read_control(self, handle: BinaryIO, member: ArMember, dest: Path) -> dict[str, str]:
        with open(dest, "wb") as out:
            decompress(MemberReader(handle, member.offset, member.size), member.name, out,
                       MAX_CONTROL_TAR_BYTES, self.what)
        try:
            with tarfile.open(dest, "r:") as tar:
                for info in tar:
                    if info.isfile() and posixpath.normpath(info.name) in ("control", "./control"):
                        extracted = tar.extractfile(info)
                        text = extracted.read(1 << 20).decode("utf-8", errors="replace") if extracted else ""
                        stanzas = parse_deb822(text)
                        return stanzas[0] if stanzas else {}
        except (tarfile.TarError, OSError):
            return {}
        return {}

    # -- lookups
    def resolve(self, name: str, max_links: int = 40) -> TarEntry | None:
        """The regular-file entry ``name`` leads to, following symbolic links
        (in every path component) and hard links inside the package; None when
        the chain ends outside the package's members."""
        pending = normalise_member(name.lstrip("/"), self.what).split("/")
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue  # at the root: stays at the root, like the kernel
            current = "/".join(done + [part])
            entry = self.entries.get(current)
            if entry is None:
                return None
            if entry.kind == "symlink":
                hops += 1
                if hops > max_links:
                    return None
                target = entry.target or ""
                if target.startswith("/"):
                    done = []
                pending = [p for p in target.split("/") if p] + pending
                continue
            if entry.kind == "hardlink":
                entry = self.entries[entry.target or ""]
                current = entry.name
            if pending and entry.kind != "dir":
                return None
            done = current.split("/")
            if not pending:
                return entry if entry.kind == "file" else None
        return None

    def _member(self, name: str) -> BinaryIO:
        entry = self.resolve(name)
        if entry is None or self._tar is None or entry.info is None:
            raise KeyError(name)
        handle = self._tar.extractfile(entry.info)
        if handle is None:
            raise KeyError(name)
        return handle

    def read(self, name: str) -> bytes:
        """The bytes of a regular file member (after links); KeyError when the
        package has no such file.  For small members: :meth:`copy` writes a
        library or program without holding it in memory."""
        return self._member(name).read()

    def copy(self, name: str, out: BinaryIO) -> int:
        """Write a regular file member (after links) to ``out``, 1 MiB at a
        time; its size.  KeyError when the package has no such file."""
        handle = self._member(name)
        size = 0
        for chunk in iter(lambda: handle.read(_COPY_CHUNK), b""):
            out.write(chunk)
            size += len(chunk)
        return size

    def glob(self, pattern: str) -> list[str]:
        return sorted(n for n in self.entries if fnmatch.fnmatchcase(n, pattern))

    def copyright(self) -> str | None:
        package = self.control.get("Package", "")
        for name in ([f"usr/share/doc/{package}/copyright"] if package else []) + self.glob("usr/share/doc/*/copyright"):
            try:
                return self.read(name).decode("utf-8", errors="replace")
            except KeyError:
                continue
        return None
