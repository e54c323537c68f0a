"""The split layout's loader: what goes into the code zip beside the handler.

``fcslim_loader.py`` is :mod:`fcslim.pack.loader_template` copied verbatim (it is a
real, tested module; Python 3.6+, standard library only) and reads its facts
from ``fcslim_deps.json``:

``schema``       "fcslim.deps/1"
``archive``      the dependency zip's file name (for messages)
``sha256``       its SHA-256; the loader refuses anything else
``size``         its size in bytes
``url``          the URL to fetch it from, or null (then ``url_env`` must be set)
``url_env``      the environment variable holding the URL (``FCSLIM_DEPS_URL``)
``python_path``  directories of the unpacked tree to put on sys.path (["."])
``preload``      bundled shared libraries, dependencies first, loaded with
                 ctypes (RTLD_GLOBAL) because LD_LIBRARY_PATH cannot change
                 after the process starts
``preload_order`` how that order was computed: "libgraph" (from DT_NEEDED
                 resolution) or "lexical" (fallback, see :func:`preload_order`)
``handler``      the function's own handler ("index.handler"), when packed
                 with one: the runtime then calls ``fcslim_loader.handler``
                 (and ``fcslim_loader.initializer`` as the instance's
                 initializer), which load the dependencies and call it

At cold start the loader unpacks into ``$FCSLIM_DEPS_TMP`` (default /tmp) as
``fcslim-deps-<sha256>``; instances sharing /tmp take turns through
``fcslim-<sha256>.lock`` (``FCSLIM_LOADER_LOCK=0`` turns the lock off; the
atomic rename alone then keeps the tree whole).  ``FCSLIM_LOADER_LAZY=1``
stops the import from loading; call ``fcslim_loader.load()`` yourself.
Errors raise ``fcslim_loader.DependencyLoadError`` naming the cause (no URL,
download failure, size/SHA-256 mismatch, an unsafe member, a library that
cannot be preloaded); presigned URLs are printed without their query string.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


LOADER_MODULE = "fcslim_loader"
SIGNING_MODULE = "fcslim_loader_signing"  # shipped with `pack --upload` packs
CONFIG_NAME = "fcslim_deps.json"
DEPS_SCHEMA = "fcslim.deps/1"
DEFAULT_URL_ENV = "FCSLIM_DEPS_URL"


def loader_source() -> str:
    """The text of ``fcslim_loader.py``."""
    return Path(__file__).with_name("loader_template.py").read_text(encoding="utf-8")


def signing_source() -> str:
    """The text of ``fcslim_loader_signing.py`` (SigV4 for a GET from a private bucket)."""
    return Path(__file__).with_name("loader_signing.py").read_text(encoding="utf-8")


def deps_config(archive, *, preload: list[str], url: str | None = None, url_env: str = DEFAULT_URL_ENV,
                preload_source: str | None = None, handler: str | None = None,
                uploaded: dict | None = None) -> dict:
    """The ``fcslim_deps.json`` for dependency zip ``archive`` (a pack.Archive);
    ``uploaded`` is the object `pack --upload` wrote (see :mod:`fcslim.pack.upload`)."""
    config = {
        "schema": DEPS_SCHEMA,
        "archive": archive.path.name,
        "sha256": archive.sha256,
        "size": archive.size,
        "url": url,
        "url_env": url_env,
        "python_path": ["."],
        "preload": list(preload),
        "preload_order": preload_source,
    }
    if handler is not None:
        config["handler"] = handler
    if uploaded is not None:
        config["object"] = uploaded
    return config


def _preload_candidates(root: Path, paths: Iterable[str]) -> list[str]:
    """Shared libraries the runtime would have found on LD_LIBRARY_PATH: ELF
    files in ``lib/`` and ``lib*.so*`` at the bundle root."""
    from fcslim.elf.facts import is_elf  # 20-35 ms to import: only a split pack needs it

    found = []
    for rel in paths:
        top_level_lib = "/" not in rel and rel.startswith("lib") and ".so" in rel
        if (rel.startswith("lib/") or top_level_lib) and is_elf(root / rel):
            found.append(rel)
    return sorted(found)


def preload_order(root: str | os.PathLike, profile, paths: Iterable[str]) -> tuple[list[str], str, str | None]:
    """The libraries the loader preloads, dependencies first.

    Uses :func:`fcslim.elf.graph.analyse` (DT_NEEDED resolved as the target
    would) when a profile is given; libraries nothing needs come last, by
    path.  Otherwise the order is lexical and the third item says so (the
    loader may then fail on a library whose dependency sorts after it).
    Returns ``(order, source, note)``.
    """
    root = Path(root)
    candidates = _preload_candidates(root, paths)
    if not candidates:
        return [], "libgraph", None
    if profile is None:
        return candidates, "lexical", (f"preloading {len(candidates)} libraries in lexical order because no "
                                       "runtime profile was given; a library whose dependency sorts after it "
                                       "will fail to preload")
    # The ELF reader and analysis (~0.015 s to import, python -X importtime): only for a split
    # bundle with libraries to preload.
    from fcslim.elf.graph import analyse

    order = [p for p in analyse(root, profile).load_order() if p in set(candidates)]
    rest = [p for p in candidates if p not in set(order)]
    return order + rest, "libgraph", None
