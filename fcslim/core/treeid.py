"""A tree's identity: one digest of every entry's path and file identity.

Results computed from a tree (its ELF load check, its size report) depend only
on what the files hold and where they are.  A file's content is identified
the way the deflate store identifies it (:mod:`fcslim.pack.streams`): device,
inode, size and modification time in nanoseconds.  A rewrite in place changes
the modification time, a replacement the inode; an install hard-linked out of
uv's cache or a bundle restored by links from fcslim's keeps all four, which is
what lets an unchanged tree's results be reused without reading a byte.

A small file no other name links to (``st_nlink`` 1, at most
:data:`CONTENT_BYTES`) counts by a digest of its content instead: an install
writes a few such files afresh every time (each distribution's ``RECORD``,
``INSTALLER``, ``REQUESTED`` and its scripts in ``bin/``: 23 of the data set's
5,240 files), and their new inodes must not make an unchanged tree look new.

Special files (a FIFO, a socket) count by their identity and are never opened.
Symbolic links count by their text and by what they resolve to (a link may
leave the tree); directories by their names.  The digest is BLAKE3 over a
canonical listing, so two trees with the same entries and identities have the
same digest, and any added, removed, renamed or rewritten entry changes it.
"""

from __future__ import annotations

import os
import stat

from blake3 import blake3

RECORDS_DIR = ".fcslim"
CONTENT_BYTES = 1 << 20


def tree_identity(root: str | os.PathLike, *, skip_top: frozenset[str] = frozenset({RECORDS_DIR})) -> str:
    """The digest of ``root``'s entries (names in ``skip_top`` at its top left
    out).  Raises ``OSError`` when a directory cannot be read."""
    digest = blake3()
    root = os.fspath(root)
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        lines = []
        for entry in entries:
            if not rel_dir and entry.name in skip_top:
                continue
            rel = rel_dir + entry.name
            if entry.is_symlink():
                try:
                    st = os.stat(entry.path)
                    target = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_mode:o}"
                except OSError:
                    target = "dangling"
                lines.append(f"l {rel}\0{os.readlink(entry.path)}\0{target}")
            elif entry.is_dir(follow_symlinks=False):
                lines.append(f"d {rel}")
                pending.append(rel + "/")
            else:
                st = entry.stat(follow_symlinks=False)
                if st.st_nlink == 1 and st.st_size <= CONTENT_BYTES and stat.S_ISREG(st.st_mode):
                    with open(entry.path, "rb") as handle:
                        content = blake3(handle.read()).hexdigest()
                    lines.append(f"c {rel}\0{content}:{st.st_size}:{st.st_mode:o}")
                else:
                    lines.append(f"f {rel}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_mode:o}")
        digest.update(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
