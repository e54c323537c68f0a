"""Which remote cache this process uses: the one :func:`configure_remote`
named (the CLI's ``--cache-url``), else ``$FCSLIM_CACHE_URL``
(``$FCSLIM_CACHE_URL_REQUIRED=1`` for strict mode), else none.

Apart from :mod:`fcslim.cache.store`, which re-exports it, so that a command
without a remote does not import the remote store (object storage glue, tree
parts: 0.01-0.02 s of start-up before uv starts, ``python -X importtime``)."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fcslim.cache.remote import RemoteStore

URL_ENV = "FCSLIM_CACHE_URL"
REQUIRED_ENV = "FCSLIM_CACHE_URL_REQUIRED"
_remote_guard = threading.Lock()
_configured: dict[str, RemoteStore | None] = {}


def _remote_store(url: str, required: bool) -> RemoteStore:
    from fcslim.cache.remote import RemoteStore  # only with a URL (see the module docstring)

    return RemoteStore(url, required=required)


def configure_remote(url: str | None, required: bool = False) -> RemoteStore | None:
    """Use the remote at ``url`` (None: none) for every cache of this process."""
    store = _remote_store(url, required) if url else None
    with _remote_guard:
        _configured.clear()
        _configured["store"] = store
    return store


def current_remote() -> RemoteStore | None:
    """The configured remote, else one from ``$FCSLIM_CACHE_URL`` (made once), else None."""
    with _remote_guard:
        if "store" in _configured:
            return _configured["store"]
        url = os.environ.get(URL_ENV) or None
        required = os.environ.get(REQUIRED_ENV, "") not in ("", "0")
        _configured["store"] = _remote_store(url, required) if url else None
        return _configured["store"]
