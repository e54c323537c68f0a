"""System tools the suite needs: a clear skip where one is missing.

On a developer's machine a missing tool skips the tests that need it, with
the reason and the package to install.  In CI (``CI`` set, as ``.ci/run`` runs
it) the same is a failure: .ci/run installs every tool, so a missing one there
is a broken CI and must not pass as a skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

# tool -> the Debian package that ships it
PACKAGES = {
    "patchelf": "patchelf", "gpg": "gpg", "gpgv": "gpgv", "strip": "binutils", "readelf": "binutils", "gcc": "gcc",
    "debootstrap": "debootstrap", "strace": "strace", "uv": "uv (pip install uv)",
}


def missing(why: str) -> None:
    """Skip (or, in CI, fail) the current test for a missing prerequisite."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI installs it: see .ci/run)")
    pytest.skip(why)


def require_tool(*names: str, purpose: str = "") -> str:
    """The path of the first tool of ``names`` found; else skip with the reason."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    package = PACKAGES.get(names[0], names[0])
    missing(f"{' or '.join(names)} is not installed{': ' + purpose if purpose else ''} (apt-get install {package})")
    raise AssertionError("unreachable")
