"""fcslim: dependency bundles for serverless Python runtimes, built for the
target and proven on it.

The CLI is a thin layer over these functions; each stage is usable alone.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; imported on first use so `fcslim --help`
# and library users pay only for what they touch.
_API = {
    "load_profile": "fcslim.target",
    "builtin_profiles": "fcslim.target",
    "Profile": "fcslim.target",
    "FcslimError": "fcslim.errors",
    "install": "fcslim.resolve",
    "InstallOptions": "fcslim.resolve",
    "InstallResult": "fcslim.resolve",
    "lock": "fcslim.lockfile",
    "LockResult": "fcslim.lockfile",
    "build": "fcslim.build",
    "BuildOptions": "fcslim.build",
    "BuildResult": "fcslim.build",
    "scan_tree": "fcslim.elf",
    "read_elf": "fcslim.elf",
    "analyse": "fcslim.libgraph",
    "plan_slim": "fcslim.slim",
    "slim": "fcslim.slim",
    "verify_imports": "fcslim.verify",
    "compile_bytecode": "fcslim.compile",
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'fcslim' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = sorted(_API) + ["__version__"]
