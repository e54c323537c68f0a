"""A cached tree as one stream: a deterministic tar out, a safe extraction in.

The remote cache stores a tree entry (a whole bundle) as one POSIX tar (cut
into parts by :mod:`fcslim.cache.parts`).  Each file's exact ``mtime_ns``
travels in a pax record (``FCSLIM.mtime_ns``), and a file whose deflate stream
the build already made travels as that stream (:mod:`fcslim.cache.treestreams`):
the runner that restores it keeps the stream under the restored file's
identity, so measuring and packing the bundle there compress nothing.

:func:`extract_tree` trusts nothing in the stream (it runs while the bytes are
still being hashed): only regular files, directories and relative symbolic
links that stay inside the tree; no member twice; nothing written through a
link.  It returns the manifest the local store records.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from pathlib import Path
from typing import IO, Any

from blake3 import blake3

from fcslim.cache.treestreams import ZIP_KEY, TreeStreams, parse_zip_record, unpack_member, zip_record
from fcslim.core.errors import FcslimError, EXIT_INTERNAL
from fcslim.core.hashing import BLAKE3_PREFIX

MTIME_KEY = "FCSLIM.mtime_ns"
_CHUNK = 1 << 20


class UnsafeTreeError(FcslimError):
    """A tree stream with a member fcslim refuses (treated as a corrupt remote object)."""

    exit_code = EXIT_INTERNAL


def _walk(tree: Path) -> list[tuple[str, str, os.stat_result]]:
    """(relative name, path, lstat) of everything under ``tree``, parents first, names sorted."""
    found = []
    stack = [(Path(tree), "")]
    while stack:
        directory, prefix = stack.pop()
        for item in sorted(os.scandir(directory), key=lambda e: e.name):
            st = item.stat(follow_symlinks=False)
            found.append((prefix + item.name, item.path, st))
            if stat.S_ISDIR(st.st_mode):
                stack.append((Path(item.path), prefix + item.name + "/"))
    return found


def write_tree(tree: Path, sink: IO[bytes], streams: TreeStreams | None = None) -> int:
    """Write ``tree`` as a deterministic pax tar into ``sink``; return the number of files.

    With ``streams``, a file whose deflate stream the local store knows is
    written as that stream with its :data:`ZIP_KEY` record (see
    :mod:`fcslim.cache.treestreams`); others as their bytes.
    """
    items = _walk(tree)
    regular = [(rel, path) for rel, path, st in items if stat.S_ISREG(st.st_mode)]
    known = dict(zip((rel for rel, _ in regular), streams.known([Path(p) for _, p in regular]))) \
        if streams is not None else {}
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, path, st in items:
            info = tarfile.TarInfo(rel)
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime) if stat.S_ISREG(st.st_mode) else 0  # same tree, same bytes
            if stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                info.pax_headers = {MTIME_KEY: str(st.st_mtime_ns)}
                packed = known.get(rel)
                if packed is not None and streams is not None and packed[1] is not None:
                    facts, ref = packed
                    info.size = ref.length
                    info.pax_headers[ZIP_KEY] = zip_record(facts)
                    with streams.open_stream(ref) as handle:
                        tar.addfile(info, handle)
                    continue
                if packed is not None:  # stored as is in a zip: its facts still travel
                    info.pax_headers[ZIP_KEY] = zip_record(packed[0])
                info.size = st.st_size
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
    return len(regular)


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


def extract_tree(source: IO[bytes], dest: Path,
                 keep: TreeStreams | None = None) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Unpack a stream written by :func:`write_tree` into the new directory ``dest``.

    A member carrying a deflate stream is inflated and checked against its
    record; with ``keep`` (a store of the codec that made the streams) the
    streams are kept there for the restored files, indexed at the end.
    Returns ``({rel: [size, "blake3:<hex>", mtime_ns]}, {rel: link target})``, the
    manifest of :meth:`fcslim.cache.local.LocalCache.put_tree`.
    """
    files: dict[str, list[Any]] = {}
    links: dict[str, str] = {}
    dest = Path(dest)
    dest.mkdir()
    try:
        _extract(source, dest, keep, files, links)
    except BaseException:
        if keep is not None:
            keep.abandon()
        raise
    if keep is not None:
        keep.commit()
    return files, links


def _extract(source: IO[bytes], dest: Path, keep: TreeStreams | None, files: dict[str, list[Any]],
             links: dict[str, str]) -> None:
    dirs: dict[str, int] = {}
    made = {""}  # directories known to exist (relative), so each is created once
    top = str(dest)

    def parent_made(rel: str) -> None:
        parent = posixpath.dirname(rel)
        if parent not in made:
            os.makedirs(os.path.join(top, parent), exist_ok=True)
            while parent not in made:
                made.add(parent)
                parent = posixpath.dirname(parent)

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
            target = os.path.join(top, rel)
            if member.isdir():
                parent_made(rel)
                if rel not in made:
                    os.makedirs(target, exist_ok=True)
                    made.add(rel)
                dirs[rel] = member.mode & 0o7777
            elif member.issym():
                if not _link_stays_inside(rel, member.linkname):
                    raise _refuse(member.name, f"links outside the tree ({member.linkname!r})")
                parent_made(rel)
                os.symlink(member.linkname, target)
                links[rel] = member.linkname
            elif member.isreg():
                parent_made(rel)
                files[rel] = _write_member(tar, member, target, keep)
            else:
                raise _refuse(member.name, "is not a file, directory or symbolic link")
    for rel in sorted(dirs, key=lambda r: -r.count("/")):
        os.chmod(os.path.join(top, rel), dirs[rel] | 0o700)


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str,
                  keep: TreeStreams | None) -> list[Any]:
    stream = tar.extractfile(member)
    if stream is None:
        raise _refuse(member.name, "has no data")
    record = member.pax_headers.get(ZIP_KEY)
    ref = None
    if record is None:
        digest = blake3()
        with open(target, "xb") as out:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        recorded = BLAKE3_PREFIX + digest.hexdigest()
    else:
        facts = parse_zip_record(record, member.size)
        recorded, ref = unpack_member(stream, facts, target, keep.writer() if keep is not None else None)
    os.chmod(target, member.mode & 0o7777)
    try:
        mtime_ns = int(member.pax_headers.get(MTIME_KEY, ""))
    except ValueError:
        mtime_ns = int(member.mtime) * 1_000_000_000
    os.utime(target, ns=(mtime_ns, mtime_ns))
    st = os.stat(target)
    if record is not None and keep is not None:
        keep.note(st, facts, ref)
    return [st.st_size, recorded, st.st_mtime_ns]
