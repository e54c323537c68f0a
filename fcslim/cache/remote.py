"""The remote store: fcslim's cache entries on object storage or a shared directory.

Layout under the URL's prefix (only these keys are ever read, written or
removed; everything else in the bucket is left alone)::

    fcslim-cache/v1/cas/<sha[:2]>/<sha256>    bytes: a file entry, or a tree as one tar
    fcslim-cache/v1/refs/<namespace>/<key>    JSON: kind, sha256 and size of the content

Races are harmless because content is addressed: a writer uploads the bytes
under their own SHA-256 (a conditional put, ``If-None-Match: *``, on object
stores; a temporary name and an atomic rename in a directory) and only then
writes the small ref, which names a complete object whatever writer wins.  A
reader hashes every byte it downloads and compares it with the ref; a
mismatch is a miss (reported once per object) and the object is overwritten
by the next writer.

A remote that fails (down, slow past its timeouts, refusing our credentials
or our writes) never fails a build: the first failure is one warning and the
remote is not asked again in this process (reads and writes separately).
With ``required=True`` (``--cache-url-required``) a failure is a
:class:`RemoteCacheError` (exit 12) instead.
"""

from __future__ import annotations

import json
import os
import secrets
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from fcslim.core.files import move
from fcslim import __version__
from fcslim.cache.local import TreeManifest
from fcslim.cache.remote_url import RemoteLocation, open_filesystem, parse_location
from fcslim.cache.parts import Part, PartMismatch, PartReader, write_parts
from fcslim.cache.streams import HashingReader, Prefetcher, TransportError
from fcslim.cache.treepack import UnsafeTreeError, extract_tree, write_tree
from fcslim.cache.treestreams import TreeStreams
from fcslim.core.errors import FcslimError, RemoteError
from fcslim.core.progress import reporter

ROOT = "fcslim-cache/v1"
REF_SCHEMA = "fcslim.remote-ref/1"
_CHUNK = 1 << 20
_BLOCK = 32 << 20  # read size of remote objects: few round trips per bundle
# Errors that are bugs in fcslim, never a remote's fault: let them through.
_BUGS = (TypeError, AttributeError, NameError, AssertionError, FcslimError)


class RemoteCacheError(RemoteError):
    """The remote cache failed and --cache-url-required forbids building without it (exit 12)."""


class _Corrupt(Exception):
    """Downloaded bytes do not match the ref (a miss, not a failure of the remote)."""


@dataclass(frozen=True)
class RemoteRef:
    kind: str  # "file" | "tree"
    sha256: str  # of the whole content (a tree: of its tar stream)
    size: int
    read_only: bool = False
    parts: tuple[Part, ...] = ()  # a tree's content objects, in order (none: one object, ``sha256``)
    codec: str | None = None  # a tree's deflate codec, when it carries deflate streams

    @property
    def objects(self) -> tuple[Part, ...]:
        """The content objects to fetch, in order."""
        return self.parts or (Part(self.sha256, self.size),)


class RemoteStore:
    """One remote cache (see the module docstring)."""

    def __init__(self, url: str, *, required: bool = False, fs: Any = None):
        self.location: RemoteLocation = parse_location(url)
        self.required = required
        self._fs = fs
        self._fs_error: BaseException | None = None
        self._guard = threading.Lock()
        # s3fs and botocore take about a second to import and set up: do it
        # while the build computes its cache key, not when the first get waits.
        self._opener: threading.Thread | None = None
        if fs is None:
            self._opener = threading.Thread(target=self._open, name="fcslim-remote-open", daemon=True)
            self._opener.start()
        self.read_failed: str | None = None
        self.write_failed: str | None = None
        self.bad_objects: set[str] = set()
        self.stats = {"hits": 0, "misses": 0, "uploads": 0, "corrupt": 0, "bytes_down": 0, "bytes_up": 0}

    # -- plumbing

    def _open(self) -> None:
        try:
            self._fs = open_filesystem(self.location)
        except BaseException as exc:  # raised again, in the caller's thread, by the first use
            self._fs_error = exc

    @property
    def fs(self) -> Any:
        if self._opener is not None:
            self._opener.join()
            self._opener = None
        if self._fs_error is not None:
            raise self._fs_error
        if self._fs is None:
            self._fs = open_filesystem(self.location)
        return self._fs

    # An object store answers each request after a round trip: s3fs asks for an
    # object's size (a HEAD) before a GET unless told it.  Refs are one GET;
    # content objects are opened with the size their ref states.
    @property
    def _one_request(self) -> dict[str, int]:
        return {} if self.location.scheme == "file" else {"max_concurrency": 1}

    def _sized(self, size: int) -> dict[str, int]:
        return {} if self.location.scheme == "file" else {"size": size}

    def _path(self, *parts: str) -> str:
        return self.location.path(ROOT, *parts)

    def cas_path(self, sha256: str) -> str:
        return self._path("cas", sha256[:2], sha256)

    def ref_path(self, namespace: str, key: str) -> str:
        return self._path("refs", namespace, key)

    def _failed(self, writing: bool, what: str, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}".strip()
        message = (f"The remote cache {self.location.url} failed while {what} ({reason[:300]}).")
        if self.required:
            raise RemoteCacheError(message, "Check the URL, the credentials and the network, or drop "
                                   "--cache-url-required to build locally when the remote is unavailable.") from exc
        with self._guard:
            first = self.read_failed is None and self.write_failed is None
            if writing:
                self.write_failed = self.write_failed or reason
            else:
                self.read_failed = self.read_failed or reason
                self.write_failed = self.write_failed or reason  # a remote we cannot read is not written either
        if first:
            tail = ("results are built and kept locally only" if not writing
                    else "results stay in the local cache and are not shared")
            reporter().warn(f"{message} Carrying on without it: {tail}.")

    def _corrupt(self, sha256: str, where: str, why: str) -> None:
        with self._guard:
            new = sha256 not in self.bad_objects
            self.bad_objects.add(sha256)
            self.stats["corrupt"] += 1
        if new:
            reporter().warn(f"The remote cache object {self.location.url_of(ROOT, 'cas', sha256[:2], sha256)} "
                            f"({where}) {why}; treated as a miss, and the next upload replaces it.")

    # -- reading

    def read_ref(self, namespace: str, key: str) -> RemoteRef | None:
        """The ref of ``key``, or None (a miss, a malformed ref, or a remote that failed)."""
        if self.read_failed:
            return None
        try:
            raw = self.fs.cat_file(self.ref_path(namespace, key), **self._one_request)
        except FileNotFoundError:
            return None
        except _BUGS:
            raise
        except Exception as exc:
            self._failed(False, f"reading {namespace}/{key}", exc)
            return None
        try:
            doc = json.loads(raw)
            parts = tuple(Part(str(sha), int(size)) for sha, size in doc.get("parts") or ())
            ref = RemoteRef(str(doc["kind"]), str(doc["sha256"]), int(doc["size"]), bool(doc.get("read_only")),
                            parts, doc.get("codec") if isinstance(doc.get("codec"), str) else None)
        except (ValueError, KeyError, TypeError):
            return None
        if doc.get("schema") != REF_SCHEMA or ref.kind not in ("file", "tree") or \
                any(len(p.sha256) != 64 or p.size < 0 for p in ref.objects) or \
                (parts and sum(p.size for p in parts) != ref.size):
            return None
        return ref

    def _download(self, namespace: str, key: str, kind: str, consume: Callable[[HashingReader], Any],
                  ref: RemoteRef | None = None) -> Any:
        """Stream the content of ``key`` through ``consume``; its result, or None on a miss."""
        ref = ref or self.read_ref(namespace, key)
        if ref is None or ref.kind != kind or ref.sha256 in self.bad_objects:
            self.stats["misses"] += 1
            return None
        try:
            with self.fs.open(self.cas_path(ref.sha256), "rb", block_size=_BLOCK, **self._sized(ref.size)) as raw:
                prefetch = Prefetcher(raw)
                reader = HashingReader(prefetch)
                try:
                    result = consume(reader)
                    reader.drain()
                except (UnsafeTreeError, OSError, EOFError, ValueError) as exc:
                    if isinstance(exc, FileNotFoundError):
                        raise
                    reader.drain()  # judge the object by its bytes, not by what choked on them
                    raise _Corrupt(str(exc)) from exc
                finally:
                    prefetch.close()
                if reader.size != ref.size or reader.digest.hexdigest() != ref.sha256:
                    raise _Corrupt(f"has {reader.size} bytes with SHA-256 {reader.digest.hexdigest()}, "
                                   f"not the {ref.size} bytes with SHA-256 {ref.sha256} its ref names")
        except FileNotFoundError:
            self.stats["misses"] += 1
            return None
        except TransportError as exc:
            self._failed(False, f"downloading {namespace}/{key}", exc.__cause__ or exc)
            return None
        except _Corrupt as exc:
            self._corrupt(ref.sha256, f"{namespace}/{key}", str(exc))
            return None
        except _BUGS:
            raise
        except Exception as exc:
            self._failed(False, f"downloading {namespace}/{key}", exc)
            return None
        self.stats["hits"] += 1
        self.stats["bytes_down"] += ref.size
        self.touch(namespace, key, ref)
        return result

    def touch(self, namespace: str, key: str, ref: RemoteRef) -> None:
        """Rewrite a ref after a hit, so ``cache clean --older-than`` sees it used (best effort)."""
        if self.write_failed:
            return
        try:
            self._put_bytes(self._ref_bytes(ref), self.ref_path(namespace, key))
        except _BUGS:
            raise
        except Exception as exc:
            self._failed(True, f"marking {namespace}/{key} used", exc)

    @staticmethod
    def _ref_bytes(ref: RemoteRef) -> bytes:
        doc = {"schema": REF_SCHEMA, "kind": ref.kind, "sha256": ref.sha256, "size": ref.size,
               "read_only": ref.read_only, "fcslim": __version__}
        if ref.parts:
            doc["parts"] = [[p.sha256, p.size] for p in ref.parts]
        if ref.codec:
            doc["codec"] = ref.codec
        return json.dumps(doc, sort_keys=True).encode()

    def fetch_file(self, namespace: str, key: str, into: Path) -> RemoteRef | None:
        """Download file entry ``key`` to the new file ``into`` (removed again on a miss)."""
        def consume(reader: HashingReader) -> bool:
            with open(into, "wb") as out:
                for chunk in iter(lambda: reader.read(_CHUNK), b""):
                    out.write(chunk)
            return True

        ref = self.read_ref(namespace, key)
        if ref is None or self._download(namespace, key, "file", consume, ref) is None:
            Path(into).unlink(missing_ok=True)
            return None
        return ref

    def fetch_tree(self, namespace: str, key: str, into: Path, ref: RemoteRef, scratch: Path,
                   keep: TreeStreams | None = None) -> TreeManifest | None:
        """Unpack tree entry ``key`` (whose ``ref`` the caller read) into the new
        directory ``into``: its manifest, or None on a miss (the caller removes
        ``into``).  Its parts download in parallel to ``scratch``, each checked
        against its SHA-256 before a byte of it is used; with ``keep`` the
        deflate streams it carries are kept there (when made by its codec)."""
        where = f"{namespace}/{key}"
        if ref.kind != "tree" or ref.sha256 in self.bad_objects or \
                any(p.sha256 in self.bad_objects for p in ref.objects):
            self.stats["misses"] += 1
            return None
        scratch.mkdir(parents=True, exist_ok=True)
        keep = keep if keep is not None and ref.codec == keep.codec else None
        try:
            with PartReader(list(ref.objects), self._open_object, scratch) as reader:
                try:
                    manifest = extract_tree(reader, into, keep)
                    for rest in iter(lambda: reader.read(_CHUNK), b""):  # the tar's zero padding
                        if rest.strip(b"\0"):
                            raise UnsafeTreeError(f"The cached tree {where} has data after its end.", "")
                except (UnsafeTreeError, ValueError, EOFError, tarfile.TarError) as exc:
                    raise _Corrupt(str(exc)) from exc
        except FileNotFoundError:
            self.stats["misses"] += 1
            return None
        except PartMismatch as exc:
            self._corrupt(exc.part.sha256, where, str(exc))
            return None
        except _Corrupt as exc:
            self._corrupt(ref.sha256, where, f"does not unpack ({exc})")
            with self._guard:
                self.bad_objects.update(p.sha256 for p in ref.objects)  # all replaced by the next upload
            return None
        except TransportError as exc:
            self._failed(False, f"downloading {where}", exc.__cause__ or exc)
            return None
        except _BUGS:
            raise
        except Exception as exc:
            self._failed(False, f"downloading {where}", exc)
            return None
        self.stats["hits"] += 1
        self.stats["bytes_down"] += ref.size
        self.touch(namespace, key, ref)
        return manifest

    def _open_object(self, part: Part) -> IO[bytes]:
        return self.fs.open(self.cas_path(part.sha256), "rb", block_size=_BLOCK, **self._sized(part.size))

    # -- writing

    def _share(self, namespace: str, key: str, publish_content: Callable[[], RemoteRef]) -> bool:
        """Publish the content (``publish_content()`` uploads it and returns its ref), then the ref naming it."""
        if self.write_failed:
            return False
        try:
            ref = publish_content()
            self._put_bytes(self._ref_bytes(ref), self.ref_path(namespace, key))
        except _BUGS:
            raise
        except Exception as exc:
            self._failed(True, f"uploading {namespace}/{key}", exc.__cause__ if isinstance(exc, TransportError)
                         and exc.__cause__ else exc)
            return False
        with self._guard:
            self.bad_objects.difference_update({ref.sha256, *(p.sha256 for p in ref.objects)})
            self.stats["uploads"] += 1
        return True

    def _publish(self, path: Path, part: Part) -> int:
        """Put one content object unless the remote has it (or it is known bad); the bytes sent."""
        target = self.cas_path(part.sha256)
        replace = part.sha256 in self.bad_objects
        if replace or not self.fs.exists(target):
            self._put(path, target, create_only=not replace)
            return part.size
        return 0

    def _put(self, path: Path, target: str, create_only: bool) -> None:
        """Publish a local file at ``target``: atomic rename in a directory, a
        conditional put on an object store (a FileExistsError means another
        writer published the same bytes first)."""
        if self.location.scheme == "file":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            partial = f"{target}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                self.fs.put_file(str(path), partial)
                move(partial, target, role="remote cache object")
            finally:
                if os.path.exists(partial):
                    os.unlink(partial)
            return
        try:
            self.fs.put_file(str(path), target, mode="create" if create_only else "overwrite")
        except FileExistsError:
            pass

    def _put_bytes(self, data: bytes, target: str) -> None:
        if self.location.scheme == "file":
            with tempfile.NamedTemporaryFile(delete=False) as handle:
                handle.write(data)
            try:
                self._put(Path(handle.name), target, create_only=False)
            finally:
                Path(handle.name).unlink(missing_ok=True)
            return
        self.fs.pipe_file(target, data)

    def upload_file(self, namespace: str, key: str, path: Path, sha256: str, size: int) -> bool:
        """Share the local file entry at ``path`` (bytes already verified against ``sha256``)."""
        def publish_content() -> RemoteRef:
            self.stats["bytes_up"] += self._publish(path, Part(sha256, size))
            return RemoteRef("file", sha256, size)

        return self._share(namespace, key, publish_content)

    def upload_tree(self, namespace: str, key: str, tree: Path, *, read_only: bool, scratch: Path,
                    streams: TreeStreams | None = None) -> bool:
        """Share the local tree entry at ``tree`` as one tar in parts (each
        written in ``scratch`` and sent while the next is written), carrying
        the deflate streams ``streams`` knows."""
        def publish_content() -> RemoteRef:
            scratch.mkdir(parents=True, exist_ok=True)
            sink, sent = write_parts(lambda out: write_tree(tree, out, streams), self._publish, scratch)
            self.stats["bytes_up"] += sent
            return RemoteRef("tree", sink.whole.hexdigest(), sink.size, read_only, tuple(p for _, p in sink.files),
                             streams.codec if streams is not None else None)

        return self._share(namespace, key, publish_content)
