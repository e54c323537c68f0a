"""A content-addressed on-disk store shared by every fcslim stage.

One :class:`Cache` is one *namespace* (``debian``, ``slim``, ``bundles``…), a
directory under :func:`fcslim.cache.location.cache_root`.  An entry is named by a key,
normally :func:`cache_key` of everything that changes its content, and holds
either one file or one directory tree::

    <root>/<namespace>/<key[:2]>/<key>/meta.json   what it is, sizes, hashes
    <root>/<namespace>/<key[:2]>/<key>/data        a file entry, or
    <root>/<namespace>/<key[:2]>/<key>/tree/       a tree entry
    <root>/<namespace>/.locks/<key>.lock           per-key flock

Guarantees:

* **No torn entries.**  An entry is assembled in ``<key>.tmp-<pid>-<nonce>``
  beside its final place (``meta.json`` written last) and becomes visible only
  by one ``rename``.  A writer killed at any point leaves only a ``.tmp-``
  directory, which lookups never see and :meth:`Cache.clean` (and the next
  write to that shard) removes once its process is gone.
* **Bytes match keys.**  In a ``kind="blob"`` namespace the key *is* the SHA-256
  of the file, checked on every put and get.  In a keyed namespace a caller
  that knows the expected hash passes ``sha256=``; a tree entry's manifest
  records every file's size and SHA-256, checked by size on every get and in
  full with ``verify=True``.  An entry that fails a check is discarded and the
  lookup reports a miss, so the caller refetches or rebuilds.
* **Shared safely.**  :meth:`Cache.lock` is an ``fcntl.flock`` per key
  (exclusive, or shared for readers), re-entrant within a process.  Puts take it
  exclusively; :meth:`Cache.clean` skips entries someone holds.  Readers that
  use an entry's path after a get should hold ``lock(key, shared=True)`` so a
  concurrent clean cannot remove it underneath them.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import stat
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Iterator

from fcslim import __version__
from fcslim.cache.location import cache_root
from fcslim.core.errors import EXIT_INTERNAL, FcslimError, InputError

LAYOUT_VERSION = 1
_NAMESPACE_FILE = ".fcslim-namespace.json"
_META = "meta.json"
_DATA = "data"
_TREE = "tree"
_TMP_MARK = ".tmp-"
_OLD_MARK = ".old-"
_STALE_TMP_SECONDS = 24 * 3600  # a .tmp- entry this old is garbage even if its pid is reused
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by fcslim.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


class CacheError(InputError):
    """The cache directory cannot be used (exit 3: fix FCSLIM_CACHE_DIR)."""


class CacheIntegrityError(FcslimError):
    """Bytes offered to the cache do not match the hash they were stored under.

    Callers that download (Debian packages, indexes) catch this and re-raise it
    in their own family (e.g. a DebianError for a bad .deb checksum).
    """

    exit_code = EXIT_INTERNAL


# --------------------------------------------------------------------------- keys


def _canonical(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (bytes, bytearray)):
        return {"bytes-sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if is_dataclass(value) and not isinstance(value, type):
        return _canonical(asdict(value))
    if hasattr(value, "to_dict"):
        return _canonical(value.to_dict())
    raise TypeError(f"cache_key cannot canonicalise a {type(value).__name__}: {value!r}")


def cache_key(*parts: Any) -> str:
    """SHA-256 hex of a canonical JSON of ``parts`` and fcslim's version.

    Parts may be JSON scalars, lists/tuples, dicts (key order does not matter),
    sets (order does not matter), paths (as posix strings), bytes (by their
    SHA-256), dataclasses and objects with ``to_dict()`` (e.g. a Profile).
    """
    document = {"fcslim": __version__, "layout": LAYOUT_VERSION, "parts": _canonical(list(parts))}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


from fcslim.core.hashing import file_sha256  # noqa: E402,F401  (re-exported)


# --------------------------------------------------------------------------- locks

_lock_table_guard = threading.Lock()
# lock path -> [thread RLock, fd or None, hold count, mode]
_lock_table: dict[str, list[Any]] = {}


def _forget_locks_in_child() -> None:
    # A forked child does not hold its parent's locks: it must flock for itself
    # (the inherited descriptors keep the parent's locks alive, which is right).
    global _lock_table_guard, _lock_table
    _lock_table_guard = threading.Lock()
    _lock_table = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


@contextmanager
def _flock(path: Path, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """A per-path flock, re-entrant within this process (threads serialise).

    Yields True when held; with ``blocking=False`` yields False instead of
    waiting when another process holds it.
    """
    key = str(path)
    with _lock_table_guard:
        slot = _lock_table.setdefault(key, [threading.RLock(), None, 0, None])
    rlock: threading.RLock = slot[0]
    if not rlock.acquire(blocking=blocking):
        yield False
        return
    try:
        if slot[2] == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            flags = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            if not blocking:
                flags |= fcntl.LOCK_NB
            try:
                fcntl.flock(fd, flags)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    yield False
                    return
                raise
            slot[1], slot[3] = fd, ("sh" if shared else "ex")
        slot[2] += 1
        try:
            yield True
        finally:
            slot[2] -= 1
            if slot[2] == 0:
                fd, slot[1], slot[3] = slot[1], None, None
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
    finally:
        rlock.release()


@contextmanager
def _exclusive_within(path: Path) -> Iterator[None]:
    """Exclusive lock for a discard/replace, upgrading a shared hold of ours."""
    with _flock(path):
        slot = _lock_table[str(path)]
        upgraded = slot[3] == "sh"
        if upgraded:
            fcntl.flock(slot[1], fcntl.LOCK_EX)
        try:
            yield
        finally:
            if upgraded:
                fcntl.flock(slot[1], fcntl.LOCK_SH)


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class CacheEntry:
    namespace: str
    key: str
    kind: str  # "file" or "tree"
    path: Path  # the file, or the tree's directory
    size: int  # bytes of content (file size, or sum of the tree's file sizes)
    files: int  # 1 for a file entry, else the tree's regular files
    created: float  # epoch seconds
    last_used: float  # epoch seconds of the last get


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Remove a file or directory tree, even one made read-only."""

    def onerror(func: Any, failed: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(failed), 0o755)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o755)
            func(failed)
        except OSError:
            pass

    if path.is_symlink() or path.is_file():
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except PermissionError:
            os.chmod(path.parent, 0o755)
            path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=onerror)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftover_is_stale(name: str, path: Path, now: float) -> bool:
    """A ``<key>.tmp-<pid>-<nonce>`` or ``.old-`` leftover whose writer is gone."""
    mark = _TMP_MARK if _TMP_MARK in name else _OLD_MARK
    try:
        pid = int(name.split(mark, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        pid = -1
    try:
        age = now - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return pid <= 0 or not _pid_alive(pid) or age > _STALE_TMP_SECONDS


def _tree_listing(top: Path) -> dict[str, Any]:
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


class Cache:
    """One namespace of the store.  See the module docstring for guarantees.

    ``kind="blob"``: keys are the SHA-256 of the file bytes (e.g. .deb files
    keyed by the archive's checksum); every put and get checks it.
    """

    def __init__(self, namespace: str, root: Path | None = None, *, kind: str = "keyed"):
        if not _KEY_RE.match(namespace) or "." in namespace:
            raise ValueError(f"bad cache namespace {namespace!r}")
        if kind not in ("keyed", "blob"):
            raise ValueError(f"cache kind must be 'keyed' or 'blob', not {kind!r}")
        self.namespace = namespace
        self.kind = kind
        self.root = Path(root) if root is not None else cache_root()
        self.path = self.root / namespace
        self._prepared = False

    def __repr__(self) -> str:
        return f"Cache({self.namespace!r}, root={str(self.root)!r}, kind={self.kind!r})"

    # -- layout

    def _prepare(self) -> None:
        if self._prepared:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tag = self.root / "CACHEDIR.TAG"
            if not tag.exists():
                tag.write_text(CACHEDIR_TAG)
            marker = self.path / _NAMESPACE_FILE
            if not marker.exists():
                tmp = marker.with_name(f"{marker.name}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
                tmp.write_text(json.dumps({"layout": LAYOUT_VERSION, "kind": self.kind}) + "\n")
                os.replace(tmp, marker)
        except OSError as exc:
            raise CacheError(
                f"The fcslim cache directory {self.path} cannot be written ({exc.strerror or exc}).",
                "Point FCSLIM_CACHE_DIR at a writable directory, or fix its permissions.",
            ) from exc
        self._prepared = True

    def _check_key(self, key: str) -> None:
        if not isinstance(key, str) or not _KEY_RE.match(key) or _TMP_MARK in key or _OLD_MARK in key:
            raise ValueError(f"bad cache key {key!r}: use cache_key(...) or [A-Za-z0-9_.+-], up to 200 chars")
        if self.kind == "blob" and not _HEX64_RE.match(key):
            raise ValueError(f"blob cache {self.namespace!r} needs a lowercase SHA-256 hex key, not {key!r}")

    def entry_dir(self, key: str) -> Path:
        self._check_key(key)
        return self.path / key[:2] / key

    def _lock_path(self, key: str) -> Path:
        return self.path / ".locks" / f"{key}.lock"

    # -- locking

    @contextmanager
    def lock(self, key: str, *, shared: bool = False) -> Iterator[None]:
        """Hold the key's flock (exclusive, or shared for readers) for the block."""
        self._check_key(key)
        self._prepare()
        with _flock(self._lock_path(key), shared=shared):
            yield

    # -- reading

    def _read_meta(self, entry: Path) -> dict[str, Any] | None:
        try:
            with open(entry / _META, "rb") as handle:
                meta = json.load(handle)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError):
            return {"corrupt": True}
        return meta if isinstance(meta, dict) else {"corrupt": True}

    def _touch(self, entry: Path) -> None:
        try:
            os.utime(entry / _META)
        except OSError:
            pass  # a read-only shared cache still serves hits

    def get_file(self, key: str, sha256: str | None = None) -> Path | None:
        """The path of a complete file entry, or None.

        With ``sha256`` (always, in a blob namespace) the bytes are hashed and an
        entry that does not match is discarded and reported as a miss.
        """
        expected = sha256.lower() if sha256 else (key if self.kind == "blob" else None)
        entry = self.entry_dir(key)
        if not self._confirmed(key, lambda: self._file_ok(entry, expected)):
            return None
        self._touch(entry)
        return entry / _DATA

    def _file_ok(self, entry: Path, expected: str | None) -> bool | None:
        """True for a good file entry, None when there is none, False when bad."""
        meta = self._read_meta(entry)
        if meta is None:
            return None
        data = entry / _DATA
        if meta.get("kind") != "file" or not data.is_file() or data.is_symlink():
            return False
        try:
            if data.stat().st_size != meta.get("size"):
                return False
            return not expected or file_sha256(data) == expected
        except OSError:
            return False

    def _confirmed(self, key: str, check) -> bool:
        """Run ``check``; an entry that looks bad is judged again under the
        key's lock before it is discarded, because a writer may have been
        swapping it in between our reads of its metadata and its data."""
        state = check()
        if state:
            return True
        if state is None:
            return False
        with self.lock(key):
            state = check()
            if state:
                return True
            if state is False:
                self.discard(key)
        return False

    def get_tree(self, key: str, *, verify: bool = False) -> Path | None:
        """The directory of a complete tree entry, or None.

        Every file's presence, size and mtime are checked against the manifest
        (and nothing extra may be there): a cheap stat walk that catches torn or
        edited entries, including writes through hard links handed out by
        :mod:`fcslim.cache.bundles`.  ``verify=True`` also re-hashes every file.
        An entry that fails is discarded and reported as a miss.
        """
        entry = self.entry_dir(key)
        if not self._confirmed(key, lambda: self._tree_ok(entry, verify)):
            return None
        self._touch(entry)
        return entry / _TREE

    def _tree_ok(self, entry: Path, verify: bool) -> bool | None:
        meta = self._read_meta(entry)
        if meta is None:
            return None
        tree = entry / _TREE
        if meta.get("kind") != "tree" or not tree.is_dir() or tree.is_symlink():
            return False
        return self._tree_matches(tree, meta, verify)

    @staticmethod
    def _tree_matches(tree: Path, meta: dict[str, Any], verify: bool) -> bool:
        files: dict[str, list[Any]] = meta.get("files") or {}
        links: dict[str, str] = meta.get("links") or {}
        try:
            listing = _tree_listing(tree)
        except OSError:
            return False
        if len(listing) != len(files) + len(links):
            return False
        for rel, found in listing.items():
            if isinstance(found, tuple):
                if links.get(rel) != found[1]:
                    return False
            else:
                record = files.get(rel)
                if record is None or record[0] != found[0]:
                    return False
                if len(record) > 2 and record[2] != found[1]:
                    return False  # written in place since it was cached
        if verify:
            for rel, (size, digest, *_) in files.items():
                try:
                    if file_sha256(tree / rel) != digest:
                        return False
                except OSError:
                    return False
        return True

    # -- writing

    def _staging(self, key: str) -> Path:
        shard = self.path / key[:2]
        shard.mkdir(parents=True, exist_ok=True)
        self._sweep_shard(shard)
        staging = shard / f"{key}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        return staging

    def _sweep_shard(self, shard: Path) -> int:
        freed = 0
        now = time.time()
        try:
            names = os.listdir(shard)
        except FileNotFoundError:
            return 0
        for name in names:
            if _TMP_MARK in name or _OLD_MARK in name:
                path = shard / name
                if _leftover_is_stale(name, path, now):
                    freed += _du(path)
                    _remove(path)
        return freed

    def _publish(self, key: str, staging: Path) -> Path:
        """Rename a finished staging directory into place (caller holds the lock)."""
        final = self.entry_dir(key)
        _fsync_dir(staging)
        old = None
        if final.exists() or final.is_symlink():
            old = final.with_name(f"{key}{_OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}")
            os.rename(final, old)
        os.rename(staging, final)
        _fsync_dir(final.parent)
        if old is not None:
            _remove(old)
        return final

    def put_file(
        self,
        key: str,
        source: Path | bytes | BinaryIO,
        sha256: str | None = None,
        *,
        move: bool = False,
    ) -> Path:
        """Store one file atomically and return its cached path.

        ``source`` is a path, bytes or a readable binary stream.  The bytes are
        written to a temporary file, fsynced, hashed and checked against
        ``sha256`` (and, in a blob namespace, the key) before the entry is
        renamed into place; a mismatch raises :class:`CacheIntegrityError` and
        stores nothing.  ``move=True`` renames a source path in instead of
        copying it when it is on the same filesystem.
        """
        self._check_key(key)
        self._prepare()
        expected = sha256.lower() if sha256 else None
        if self.kind == "blob":
            if expected and expected != key:
                raise ValueError(f"blob key {key} and sha256 {expected} differ")
            expected = key
        with self.lock(key):
            staging = self._staging(key)
            try:
                data = staging / _DATA
                digest, size = self._write_data(source, data, move)
                if expected and digest != expected:
                    raise CacheIntegrityError(
                        f"Bytes offered for cache entry {self.namespace}/{key} have SHA-256 {digest}, "
                        f"expected {expected}; nothing was stored.",
                        "The download was corrupted or the expected hash is wrong; fetch it again.",
                    )
                meta = {
                    "layout": LAYOUT_VERSION, "kind": "file", "key": key, "size": size,
                    "sha256": digest, "created": time.time(), "fcslim": __version__,
                }
                _write_json_durably(staging / _META, meta)
                final = self._publish(key, staging)
            except BaseException:
                _remove(staging)
                raise
        return final / _DATA

    @staticmethod
    def _write_data(source: Path | bytes | BinaryIO, data: Path, move: bool) -> tuple[str, int]:
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
                for chunk in iter(lambda: stream.read(_CHUNK), b""):
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

    def put_tree(self, key: str, source_dir: Path, *, read_only: bool = False) -> Path:
        """Copy a directory tree into the cache atomically; return the cached tree.

        The copy keeps symlinks as symlinks and file modes; a manifest of every
        file's size and SHA-256 is written last, then the entry is renamed into
        place.  ``read_only=True`` strips write bits from the cached files so
        hard links handed out to callers cannot be edited by accident.
        """
        self._check_key(key)
        self._prepare()
        source_dir = Path(source_dir)
        if not source_dir.is_dir():
            raise NotADirectoryError(source_dir)
        with self.lock(key):
            staging = self._staging(key)
            try:
                tree = staging / _TREE
                files, links = _copy_tree_with_manifest(source_dir, tree)
                if read_only:
                    _make_read_only(tree, files)
                meta = {
                    "layout": LAYOUT_VERSION, "kind": "tree", "key": key,
                    "size": sum(record[0] for record in files.values()), "file_count": len(files),
                    "created": time.time(), "fcslim": __version__, "read_only": read_only,
                    "files": files, "links": links,
                }
                _write_json_durably(staging / _META, meta)
                final = self._publish(key, staging)
            except BaseException:
                _remove(staging)
                raise
        return final / _TREE

    def discard(self, key: str) -> bool:
        """Remove an entry (under its lock).  True if there was one."""
        entry = self.entry_dir(key)
        if not (entry.exists() or entry.is_symlink()):
            return False
        with _exclusive_within(self._lock_path(key)):
            if not (entry.exists() or entry.is_symlink()):
                return False
            aside = entry.with_name(f"{key}{_OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}")
            os.rename(entry, aside)
            _remove(aside)
        return True

    # -- inventory

    def entries(self) -> list[CacheEntry]:
        """Every complete entry (leftovers of interrupted writes are not entries)."""
        found: list[CacheEntry] = []
        if not self.path.is_dir():
            return found
        for shard in sorted(self.path.iterdir()):
            if shard.name.startswith(".") or not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                name = entry.name
                if _TMP_MARK in name or _OLD_MARK in name or not _KEY_RE.match(name):
                    continue
                meta = self._read_meta(entry)
                if not meta or meta.get("corrupt") or meta.get("kind") not in ("file", "tree"):
                    continue
                try:
                    used = (entry / _META).stat().st_mtime
                except OSError:
                    continue
                kind = meta["kind"]
                found.append(CacheEntry(
                    namespace=self.namespace, key=name, kind=kind,
                    path=entry / (_DATA if kind == "file" else _TREE),
                    size=int(meta.get("size") or 0),
                    files=1 if kind == "file" else int(meta.get("file_count") or 0),
                    created=float(meta.get("created") or used), last_used=used,
                ))
        return found

    def size(self) -> int:
        """Bytes the namespace occupies on disk (entries, leftovers, locks)."""
        return _du(self.path) if self.path.exists() else 0

    def clean(self, older_than: float | None = None) -> int:
        """Remove entries not used for ``older_than`` seconds (all, if None).

        Entries whose lock another process holds are skipped.  Leftovers of
        interrupted writes, unreadable entries and unused lock files go too.
        Returns the bytes freed.
        """
        if not self.path.is_dir():
            return 0
        now = time.time()
        freed = 0
        for shard in list(self.path.iterdir()):
            if shard.name.startswith(".") or not shard.is_dir():
                continue
            freed += self._sweep_shard(shard)
            for entry in list(shard.iterdir()):
                name = entry.name
                if _TMP_MARK in name or _OLD_MARK in name:
                    continue
                if not _KEY_RE.match(name):
                    continue
                try:
                    used = (entry / _META).stat().st_mtime
                except OSError:
                    used = None  # no meta: an unreadable entry, always removed
                if used is not None and older_than is not None and now - used < older_than:
                    continue
                with _flock(self._lock_path(name), blocking=False) as held:
                    if not held:
                        continue
                    size = _du(entry)
                    _remove(entry)
                    freed += size
            try:
                shard.rmdir()
            except OSError:
                pass
        locks = self.path / ".locks"
        if locks.is_dir():
            for lock_file in list(locks.iterdir()):
                key = lock_file.name[: -len(".lock")]
                if _KEY_RE.match(key) and not (self.path / key[:2] / key).exists():
                    with _flock(lock_file, blocking=False) as held:
                        if held:
                            try:
                                lock_file.unlink()
                            except FileNotFoundError:
                                pass
        return freed


def _write_json_durably(path: Path, document: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, sort_keys=True, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())


def _copy_file(src: str, dst: str) -> tuple[int, str]:
    """Copy one regular file, hashing it on the way; return its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        for chunk in iter(lambda: fin.read(_CHUNK), b""):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    shutil.copymode(src, dst)
    return size, digest.hexdigest()


def _copy_tree_with_manifest(source: Path, dest: Path) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Copy ``source`` to a new ``dest``.

    Returns {rel: [size, sha256, mtime_ns of the cached copy]} and {rel: link
    target}.  Copies keep the source's mtime; the recorded mtime lets the cheap check catch same-size edits made in place
    through a hard link.
    """
    files: dict[str, list[Any]] = {}
    links: dict[str, str] = {}
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
                    size, digest = _copy_file(item.path, target)
                    # keep the source's mtime: what measured the file (report
                    # memo) recognises it after a restore
                    source_stat = item.stat()
                    os.utime(target, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
                    files[rel] = [size, digest, os.stat(target).st_mtime_ns]
                # sockets, fifos, devices: not bundle content, not cached
        shutil.copymode(src_dir, dst_dir)
    return files, links


def _make_read_only(tree: Path, files: dict[str, list[Any]]) -> None:
    for rel in files:
        path = tree / rel
        mode = stat.S_IMODE(path.lstat().st_mode)
        os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _du(path: Path) -> int:
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
    return _du(Path(path))


# --------------------------------------------------------------------------- the whole cache

# Namespaces fcslim itself keeps, with what they hold.  ``uv`` is uv's own
# content-addressed wheel/resolution cache (UV_CACHE_DIR points there); ``roots``
# holds the clean debootstrap roots, removed only when asked for by name.
NAMESPACES: dict[str, str] = {
    "uv": "uv's wheel and resolution cache (UV_CACHE_DIR)",
    "debian": "Debian indexes and .deb packages",
    "slim": "per-distribution slim results",
    "bundles": "whole bundles for warm rebuilds",
    "roots": "clean debootstrap roots for in-target checks",
}
EXPLICIT_ONLY = frozenset({"roots"})


@dataclass(frozen=True)
class NamespaceUsage:
    name: str
    path: Path
    bytes: int
    entries: int | None  # None where fcslim does not count entries (uv, unknown dirs)
    description: str


def usage(root: Path | None = None) -> list[NamespaceUsage]:
    """Size of every namespace under the cache root (known ones always listed)."""
    base = Path(root) if root is not None else cache_root()
    names = list(NAMESPACES)
    if base.is_dir():
        names += sorted(p.name for p in base.iterdir()
                        if p.is_dir() and not p.name.startswith(".") and p.name not in NAMESPACES)
    result = []
    for name in names:
        path = base / name
        if name == "roots":
            count: int | None = len(_root_dirs(path))
        elif (path / _NAMESPACE_FILE).exists():
            count = len(Cache(name, base).entries())
        else:
            count = None
        result.append(NamespaceUsage(name, path, _du(path), count,
                                     NAMESPACES.get(name, "not an fcslim namespace")))
    return result


def _root_dirs(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return [p for p in sorted(path.iterdir()) if p.is_dir() and (p / ".fcslim-root-complete").exists()]


def clean_namespace(name: str, older_than: float | None = None, root: Path | None = None) -> int:
    """Empty one namespace (entries unused for ``older_than`` seconds, or all).

    ``uv`` is cleaned with ``uv cache clean`` (everything; with ``older_than``,
    ``uv cache prune`` instead, which drops what uv no longer references).
    ``roots`` removes complete debootstrap roots not built within ``older_than``
    and any interrupted builds, skipping roots another process holds.  Other
    directories that are not fcslim namespaces are removed whole, and only when
    ``older_than`` is None.  Returns the bytes freed.
    """
    base = Path(root) if root is not None else cache_root()
    path = base / name
    if not path.exists():
        return 0
    if name == "uv":
        return _clean_uv(path, prune=older_than is not None)
    if name == "roots":
        return _clean_roots(path, older_than)
    if (path / _NAMESPACE_FILE).exists():
        return Cache(name, base).clean(older_than)
    if older_than is not None:
        return 0
    size = _du(path)
    _remove(path)
    return size


def _clean_uv(path: Path, prune: bool) -> int:
    import subprocess

    before = _du(path)
    uv = shutil.which("uv")
    if uv is None:
        try:
            from uv import find_uv_bin  # the uv wheel fcslim depends on

            uv = find_uv_bin()
        except Exception:
            uv = None
    if uv is None:
        if prune:
            return 0
        _remove(path)
        return before
    verb = "prune" if prune else "clean"
    proc = subprocess.run([uv, "cache", verb, "--cache-dir", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CacheError(
            f"`uv cache {verb}` on {path} failed: {(proc.stderr or proc.stdout).strip()[-400:]}",
            "Another uv process may be using the cache; try again when it is done.",
        )
    return max(0, before - _du(path))


def _clean_roots(path: Path, older_than: float | None) -> int:
    now = time.time()
    freed = 0
    for entry in sorted(path.iterdir()):
        if not entry.is_dir():
            continue
        marker = entry / ".fcslim-root-complete"
        if ".building-" in entry.name:
            try:
                pid = int(entry.name.rsplit(".building-", 1)[1])
            except ValueError:
                pid = -1
            if pid > 0 and _pid_alive(pid):
                continue
        elif marker.exists() and older_than is not None:
            if now - marker.stat().st_mtime < older_than:
                continue
        # rootfs.ensure_root builds and replaces a root under "<root>.lock"
        lock_path = entry.with_name(entry.name.split(".building-")[0] + ".lock")
        with _flock(lock_path, blocking=False) as held:
            if not held:
                continue
            size = _du(entry)
            _remove(entry)
            freed += size
    return freed
