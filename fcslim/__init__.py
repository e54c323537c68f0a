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
    "load_profile": "fcslim.target.profile",
    "builtin_profiles": "fcslim.target.profile",
    "Profile": "fcslim.target.profile",
    "FcslimError": "fcslim.core.errors",
    "install": "fcslim.resolve.install",
    "InstallOptions": "fcslim.resolve.install",
    "InstallResult": "fcslim.resolve.install",
    "open_input": "fcslim.resolve.inputs",
    "InputSpec": "fcslim.resolve.inputs",
    "write_html": "fcslim.report.html",
    "lock": "fcslim.resolve.lock",
    "LockResult": "fcslim.resolve.lock",
    "build": "fcslim.pipeline",
    "BuildOptions": "fcslim.pipeline",
    "BuildResult": "fcslim.pipeline",
    "scan_tree": "fcslim.elf.facts",
    "read_elf": "fcslim.elf.facts",
    "analyse": "fcslim.elf.graph",
    "fetch_missing": "fcslim.fetch.closure",
    "Trust": "fcslim.debian.signatures",
    "plan_slim": "fcslim.slim.apply",
    "slim_tree": "fcslim.slim.apply",
    "verify_imports": "fcslim.verify.imports",
    "compile_bytecode": "fcslim.verify.bytecode",
    "build_report": "fcslim.report.measure",
    "pack_tree": "fcslim.pack.archive",
    "plan_pack": "fcslim.pack.plan",
    "pack_auto": "fcslim.pack.artifacts",
}


# API names never equal a stage subpackage's name (`fcslim.slim` is the
# subpackage; the function is `slim_tree`): importing a submodule binds its
# name on this package and would shadow a function of the same name.
_ALIASES = {"slim_tree": "slim", "pack_tree": "pack"}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'fcslim' has no attribute {name!r}")
    return getattr(import_module(module), _ALIASES.get(name, name))


__all__ = sorted(_API) + ["__version__"]
