"""The bundle's start-up hook: a ``sitecustomize.py`` at the bundle root that
sets the environment fetched libraries and programs need (see
:mod:`fcslim.fetch.hook_template`, the code it runs).

A bundle that already has its own ``sitecustomize.py`` is left alone; the
result then says which variables the function must set itself.
"""

from __future__ import annotations

import pprint
from dataclasses import dataclass, field
from pathlib import Path

from fcslim.fetch.placement import write_file
from fcslim.fetch.record import EnvSetting

SHIM_NAME = "sitecustomize.py"
SHIM_MARKER = "# fcslim-fetch-shim"
TEMPLATE = Path(__file__).with_name("hook_template.py")
CONFIG_LINE = "CONFIG = {}  # replaced when written into a bundle\n"


@dataclass
class HookConfig:
    lib_dir: str = "lib"
    find_library: bool = False
    env: list[EnvSetting] = field(default_factory=list)
    templates: list[dict[str, str]] = field(default_factory=list)  # {"source": rel path, "name": file name}
    path: list[str] = field(default_factory=list)  # bundle dirs put first on PATH

    @property
    def wanted(self) -> bool:
        return bool(self.find_library or self.env or self.path)

    def to_config(self) -> dict:
        return {
            "lib_dir": self.lib_dir,
            "find_library": self.find_library,
            "env": {s.name: s.to_config() for s in sorted(self.env, key=lambda s: s.name)},
            "templates": self.templates,
            "path": self.path,
        }


def is_own_hook(root: Path) -> bool:
    shim = Path(root) / SHIM_NAME
    return shim.is_file() and SHIM_MARKER in shim.read_text(errors="replace")[:200]


def render_hook(config: HookConfig) -> str:
    text = TEMPLATE.read_text()
    if CONFIG_LINE not in text:
        raise RuntimeError(f"{TEMPLATE} lost its CONFIG line")
    literal = pprint.pformat(config.to_config(), width=100, sort_dicts=True)
    return text.replace(CONFIG_LINE, f"CONFIG = {literal}\n", 1)


def write_hook(root: Path, config: HookConfig) -> tuple[list[str], list[str]]:
    """Write the hook; (hooks written, notes)."""
    shim = Path(root) / SHIM_NAME
    if shim.exists() and not is_own_hook(root):
        settings = [f"{s.name}={s.describe()}" for s in config.env]
        if config.path:
            settings.append("PATH=" + ":".join(config.path) + ":$PATH")
        notes = [
            f"The bundle has its own {SHIM_NAME}, so fcslim did not add its start-up hook: libraries looked up "
            "with ctypes.util.find_library may not be found"
            + (", and these variables must be set on the function (paths relative to where the bundle is "
               "unpacked): " + ", ".join(settings) if settings else "")
            + "."
        ]
        return [], notes
    write_file(shim, render_hook(config).encode(), 0o644)
    return [SHIM_NAME], []
