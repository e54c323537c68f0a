"""Where a bundle file goes inside a zip, per layout.

``code``: as it is (the function's code root); ``layer``: Python packages
under ``python/`` and fetched libraries under ``lib/`` (the layer root, /opt).
"""

from __future__ import annotations


def archive_name(path: str, layout: str) -> str:
    """The zip entry name of bundle file ``path`` in ``layout``."""
    if layout == "layer":
        return path if path.startswith("lib/") else f"python/{path}"
    return path
