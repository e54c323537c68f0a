"""A cached tree as one object: a deterministic tar out, a safe extraction in.

The remote cache stores a tree entry (a whole bundle) as one POSIX tar so that
a restore is one sequential download.  Each file's exact ``mtime_ns`` travels
in a pax record (``FCSLIM.mtime_ns``): the report recognises the files it has
already measured by path, size and mtime, so a bundle restored on another
machine reports without compressing anything.

:func:`extract_tree` trusts nothing in the stream (it runs while the bytes are
still being hashed): only regular files, directories and relative symbolic
links that stay inside the tree; no member twice; nothing written through a
link.  It returns the manifest the local store records.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
from pathlib import Path
from typing import IO, Any

from fcslim.core.errors import FcslimError, EXIT_INTERNAL

MTIME_KEY = "FCSLIM.mtime_ns"
_CHUNK = 1 << 20


class UnsafeTreeError(FcslimError):
    """A tree stream with a member fcslim refuses (treated as a corrupt remote object)."""

    exit_code = EXIT_INTERNAL


def write_tree(tree: Path, sink: IO[bytes]) -> int:
    """Write ``tree`` as a deterministic pax tar into ``sink``; return the number of files."""
    count = 0
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        stack = [(Path(tree), "")]
        while stack:
            directory, prefix = stack.pop()
            for item in sorted(os.scandir(directory), key=lambda e: e.name):
                rel = prefix + item.name
                st = item.stat(follow_symlinks=False)
                info = tarfile.TarInfo(rel)
                info.mode = stat.S_IMODE(st.st_mode)
                info.mtime = int(st.st_mtime) if stat.S_ISREG(st.st_mode) else 0  # same tree, same bytes
                if stat.S_ISLNK(st.st_mode):
                    info.type, info.linkname = tarfile.SYMTYPE, os.readlink(item.path)
                    tar.addfile(info)
                elif stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                    stack.append((Path(item.path), rel + "/"))
                elif stat.S_ISREG(st.st_mode):
                    info.size = st.st_size
                    info.pax_headers = {MTIME_KEY: str(st.st_mtime_ns)}
                    with open(item.path, "rb") as handle:
                        tar.addfile(info, handle)
                    count += 1
    return count


def _refuse(name: str, why: str) -> UnsafeTreeError:
    return UnsafeTreeError(f"The cached tree has a member {name!r} that {why}; fcslim refuses it.",
                           "The remote object is corrupt or was not written by fcslim; it is treated as a miss.")


def _safe_name(name: str) -> str:
    clean = posixpath.normpath(name)
    if name.startswith("/") or "\\" in name or "\x00" in name or clean in (".", "") or clean.startswith("../") \
            or clean == "..":
        raise _refuse(name, "would land outside the tree")
    return clean


def _link_stays_inside(rel: str, target: str) -> bool:
    if target.startswith("/") or "\x00" in target:
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    return not (joined == ".." or joined.startswith("../"))


def extract_tree(source: IO[bytes], dest: Path) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Unpack a stream written by :func:`write_tree` into the new directory ``dest``.

    Returns ``({rel: [size, sha256, mtime_ns]}, {rel: link target})``, the
    manifest of :meth:`fcslim.cache.local.LocalCache.put_tree`.
    """
    files: dict[str, list[Any]] = {}
    links: dict[str, str] = {}
    dirs: dict[str, int] = {}
    dest = Path(dest)
    dest.mkdir()
    with tarfile.open(fileobj=source, mode="r|") as tar:
        for member in tar:
            rel = _safe_name(member.name)
            if rel in files or rel in links or rel in dirs:
                raise _refuse(member.name, "appears twice")
            parent = posixpath.dirname(rel)
            while parent:
                if parent in links or parent in files:
                    raise _refuse(member.name, "would be written through a link or a file")
                parent = posixpath.dirname(parent)
            target = dest / rel
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                dirs[rel] = member.mode & 0o7777
            elif member.issym():
                if not _link_stays_inside(rel, member.linkname):
                    raise _refuse(member.name, f"links outside the tree ({member.linkname!r})")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(member.linkname, target)
                links[rel] = member.linkname
            elif member.isreg():
                target.parent.mkdir(parents=True, exist_ok=True)
                files[rel] = _write_member(tar, member, target)
            else:
                raise _refuse(member.name, "is not a file, directory or symbolic link")
    for rel in sorted(dirs, key=lambda r: -r.count("/")):
        os.chmod(dest / rel, dirs[rel] | 0o700)
    return files, links


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> list[Any]:
    digest = hashlib.sha256()
    size = 0
    stream = tar.extractfile(member)
    if stream is None:
        raise _refuse(member.name, "has no data")
    with open(target, "xb") as out:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    os.chmod(target, member.mode & 0o7777)
    try:
        mtime_ns = int(member.pax_headers.get(MTIME_KEY, ""))
    except ValueError:
        mtime_ns = int(member.mtime) * 1_000_000_000
    os.utime(target, ns=(mtime_ns, mtime_ns))
    return [size, digest.hexdigest(), os.stat(target).st_mtime_ns]
