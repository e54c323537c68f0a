"""File-system steps the stores share: durable writes, hashed copies, sizes
(removal, directory fsync and swaps are :mod:`fcslim.core.files`').

Every helper here works on plain paths and knows nothing of namespaces or keys;
:mod:`fcslim.cache.local` arranges them into entries.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

from fcslim.cache.keys import OLD_MARK, TMP_MARK
from fcslim.core.hashing import BLAKE3_PREFIX, file_blake3, file_sha256
from fcslim.core.runs import pid_alive

CHUNK = 1 << 20
# BLAKE3 hex digests of files by their stat (None: not known), e.g. from the
# deflate stream store, which hashed every file of a bundle it measured
KnownDigests = Callable[[Sequence[os.stat_result]], Sequence["str | None"]]
STALE_TMP_SECONDS = 24 * 3600  # a .tmp- entry this old is garbage even if its pid is reused


def leftover_is_stale(name: str, path: Path, now: float) -> bool:
    """A ``<key>.tmp-<pid>-<nonce>`` or ``.old-`` leftover whose writer is gone."""
    mark = TMP_MARK if TMP_MARK in name else OLD_MARK
    try:
        pid = int(name.split(mark, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        pid = -1
    try:
        age = now - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return pid <= 0 or not pid_alive(pid) or age > STALE_TMP_SECONDS


def tree_listing(top: Path) -> dict[str, Any]:
    """relative posix path -> [size, mtime_ns] (files) or ("link", target) for symlinks."""
    listing: dict[str, Any] = {}
    stack = [(top, "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as it:
            for item in it:
                rel = prefix + item.name
                if item.is_symlink():
                    listing[rel] = ("link", os.readlink(item.path))
                elif item.is_dir():
                    stack.append((Path(item.path), rel + "/"))
                else:
                    st = item.stat()
                    listing[rel] = [st.st_size, st.st_mtime_ns]
    return listing


def write_json_durably(path: Path, document: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, sort_keys=True, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())


def copy_file(src: str, dst: str) -> tuple[int, str]:
    """Copy one regular file, hashing it on the way; return its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        for chunk in iter(lambda: fin.read(CHUNK), b""):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    shutil.copymode(src, dst)
    return size, digest.hexdigest()


def link_file(src: str, dst: str) -> bool:
    """Hard-link ``src`` as ``dst``; False where links cannot be made (another
    filesystem, no link support, too many links)."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            return False
        raise
    return True


def copy_tree_with_manifest(source: Path, dest: Path, *, link: bool = False,
                            copy_dirs: frozenset[str] = frozenset(), known_digests: KnownDigests | None = None,
                            ) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Copy ``source`` to a new ``dest``; with ``link``, hard-link its files
    instead where the filesystem allows (top-level directories named in
    ``copy_dirs`` are always copied).

    Returns {rel: [size, digest, mtime_ns of the cached file]} and {rel: link
    target}: SHA-256 for copies (taken on the way), ``blake3:`` for links.
    Copies keep the source's mtime; the recorded mtime lets the cheap check
    catch same-size edits made in place through a hard link.  A linked file
    whose identity (device, inode, size, mtime) ``known_digests`` knows is
    not read again: the bundle was just measured, every byte hashed.
    """
    files: dict[str, list[Any]] = {}
    links: dict[str, str] = {}
    linked: dict[str, os.stat_result] = {}
    dest.mkdir()
    stack = [(source, dest, "")]
    while stack:
        src_dir, dst_dir, prefix = stack.pop()
        with os.scandir(src_dir) as it:
            for item in it:
                rel = prefix + item.name
                target = os.path.join(dst_dir, item.name)
                if item.is_symlink():
                    link = os.readlink(item.path)
                    os.symlink(link, target)
                    links[rel] = link
                elif item.is_dir():
                    os.mkdir(target)
                    stack.append((Path(item.path), Path(target), rel + "/"))
                elif item.is_file():
                    if link and not (rel.split("/", 1)[0] in copy_dirs and "/" in rel) and link_file(item.path, target):
                        linked[rel] = os.stat(target)
                        continue
                    size, digest = copy_file(item.path, target)
                    # keep the source's mtime: what measured the file (report
                    # memo) recognises it after a restore
                    source_stat = item.stat()
                    os.utime(target, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
                    files[rel] = [size, digest, os.stat(target).st_mtime_ns]
                # sockets, fifos, devices: not bundle content, not cached
        shutil.copymode(src_dir, dst_dir)
    names = sorted(linked)
    known = list(known_digests([linked[rel] for rel in names])) if known_digests and names else [None] * len(names)
    for rel, digest in zip(names, known):
        st = linked[rel]
        files[rel] = [st.st_size, BLAKE3_PREFIX + digest if digest else file_blake3(dest / rel), st.st_mtime_ns]
    return files, links


def make_read_only(tree: Path, files: dict[str, list[Any]]) -> None:
    for rel in files:
        path = tree / rel
        mode = stat.S_IMODE(path.lstat().st_mode)
        os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def disk_usage(path: Path) -> int:
    """Bytes of regular files under ``path`` (or of ``path`` itself)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    total = 0
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for item in it:
                    try:
                        if item.is_dir(follow_symlinks=False):
                            stack.append(item.path)
                        elif item.is_file(follow_symlinks=False):
                            total += item.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return total


def directory_size(path: Path) -> int:
    """Bytes of regular files under ``path`` (0 if it does not exist)."""
    return disk_usage(Path(path))


def write_data(source: Path | bytes | BinaryIO, data: Path, move: bool) -> tuple[str, int]:
    if isinstance(source, (str, os.PathLike)) and move:
        source = Path(source)
        try:
            os.rename(source, data)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        else:
            fd = os.open(data, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return file_sha256(data), data.stat().st_size
    digest = hashlib.sha256()
    size = 0
    with open(data, "xb") as out:
        if isinstance(source, (bytes, bytearray, memoryview)):
            stream: BinaryIO = io.BytesIO(bytes(source))
            close = False
        elif isinstance(source, (str, os.PathLike)):
            stream = open(source, "rb")
            close = True
        else:
            stream, close = source, False
        try:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        finally:
            if close:
                stream.close()
        out.flush()
        os.fsync(out.fileno())
    if move and isinstance(source, (str, os.PathLike)):
        os.unlink(source)
    return digest.hexdigest(), size
