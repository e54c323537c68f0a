"""``fcslim cache info`` / ``clean`` for the remote store.

Only keys under ``<prefix>/fcslim-cache/`` are listed or removed; anything else
in the bucket or directory is never touched.  An entry's age on the remote is
the time its ref was last written: by the upload, and again by every hit that
restores it (see :meth:`fcslim.cache.remote.RemoteStore.touch`).  Cleaning
removes the refs not used within ``--older-than`` (all, without it), then
every content object no remaining ref names, except objects younger than
:data:`GRACE_SECONDS`, which a writer may be about to name.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field

from fcslim.cache.remote import ROOT, RemoteCacheError, RemoteStore

GRACE_SECONDS = 3600


@dataclass
class RemoteObject:
    path: str
    size: int
    modified: float  # epoch seconds


@dataclass
class RemoteUsage:
    url: str
    refs: dict[str, int] = field(default_factory=dict)  # namespace -> entries
    objects: int = 0
    bytes: int = 0


def _modified(info: dict) -> float:
    stamp = info.get("LastModified") or info.get("mtime") or info.get("last_modified") or 0
    if isinstance(stamp, datetime.datetime):
        return stamp.timestamp()
    return float(stamp)


def _listing(remote: RemoteStore, part: str) -> list[RemoteObject]:
    base = remote.location.path(ROOT, part)
    fs = remote.fs
    if not fs.exists(base):
        return []
    found = fs.find(base, detail=True)
    return [RemoteObject(path, int(info.get("size") or 0), _modified(info))
            for path, info in sorted(found.items()) if info.get("type", "file") == "file" and ".tmp-" not in path]


def _namespace_of(remote: RemoteStore, path: str) -> str:
    rel = path[len(remote.location.path(ROOT, "refs")):].strip("/")
    return rel.split("/", 1)[0]


def _failure(remote: RemoteStore, what: str, exc: Exception) -> RemoteCacheError:
    return RemoteCacheError(f"The remote cache {remote.location.url} failed while {what} "
                            f"({type(exc).__name__}: {str(exc)[:300]}).",
                            "Check the URL, the credentials (AWS_* / OSS_* variables or a profile) and the network.")


def remote_usage(remote: RemoteStore) -> RemoteUsage:
    """Entries per namespace and the bytes of content the remote holds for fcslim."""
    try:
        return _usage(remote)
    except (OSError, RuntimeError, ValueError) as exc:
        raise _failure(remote, "listing its entries", exc) from exc


def _usage(remote: RemoteStore) -> RemoteUsage:
    result = RemoteUsage(remote.location.url)
    for ref in _listing(remote, "refs"):
        namespace = _namespace_of(remote, ref.path)
        result.refs[namespace] = result.refs.get(namespace, 0) + 1
    objects = _listing(remote, "cas")
    result.objects = len(objects)
    result.bytes = sum(o.size for o in objects)
    return result


def clean_remote(remote: RemoteStore, older_than: float | None = None,
                 namespaces: list[str] | None = None) -> tuple[int, int]:
    """Remove unused entries (see the module docstring); returns (entries removed, bytes freed)."""
    try:
        return _clean(remote, older_than, namespaces)
    except (OSError, RuntimeError, ValueError) as exc:
        raise _failure(remote, "cleaning", exc) from exc


def _clean(remote: RemoteStore, older_than: float | None, namespaces: list[str] | None) -> tuple[int, int]:
    now = time.time()
    fs = remote.fs
    removed = 0
    keep: set[str] = set()
    for ref in _listing(remote, "refs"):
        wanted = namespaces is None or _namespace_of(remote, ref.path) in namespaces
        if wanted and (older_than is None or now - ref.modified >= older_than):
            fs.rm_file(ref.path)
            removed += 1
            continue
        try:
            doc = json.loads(fs.cat_file(ref.path))
            keep.add(str(doc["sha256"]))
            keep.update(str(sha) for sha, _ in doc.get("parts") or ())
        except (ValueError, KeyError, TypeError, FileNotFoundError):
            continue
    freed = 0
    for obj in _listing(remote, "cas"):
        name = obj.path.rsplit("/", 1)[-1]
        if name in keep or now - obj.modified < GRACE_SECONDS:
            continue
        fs.rm_file(obj.path)
        freed += obj.size
    return removed, freed
