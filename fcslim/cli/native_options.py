"""Options of `fcslim resolve` about what native code needs at run time:
import failures, optional libraries, wheels that provide missing libraries,
Debian programs.  Kept together so the verb's own signature stays short: the
decorated command receives them in ``**native`` and passes
:func:`build_fields` of it to :class:`fcslim.pipeline.BuildOptions`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from fcslim.slim.rules import system_packages_from_config

NATIVE_OPTIONS = (
    click.option("--verify-image", is_flag=True,
                 help="Check imports in the runtime's public container image (data/runtime_images.json) with docker "
                      "or podman; exit 8 when no container engine answers."),
    click.option("--strict-optional", is_flag=True,
                 help="Fail (exit 7) also when a missing library is needed only by extension modules that the "
                      "import check shows nothing imports (by default a warning naming the feature lost)."),
    click.option("--add-wheel-for-missing", is_flag=True,
                 help="Install the PyPI wheel that ships a library the runtime's Debian release lacks "
                      "(tbb for libtbb.so.12, intel-openmp for libiomp5.so; data/library_wheels.json)."),
    click.option("--system-package", "system_packages", multiple=True, metavar="DEBIAN_PACKAGE",
                 help="Bring the programs of this Debian package (of the runtime's release) into bin/, with their "
                      "libraries and data; also `system-packages = [...]` in [tool.fcslim]. Repeatable."),
    click.option("--no-auto-system-packages", is_flag=True,
                 help="Do not bring the programs that installed wrappers run by name (pdf2image: poppler-utils, "
                      "pydub and ffmpeg-python: ffmpeg, pytesseract: tesseract-ocr)."),
    click.option("--allow-import-failure", "allow_import_failures", multiple=True, metavar="NAME",
                 help="Let the build pass although module (or distribution) NAME of the requirements fails to "
                      "import on the runtime (otherwise exit 8). Repeatable."),
)


def native_options(fn: Callable) -> Callable:
    for option in reversed(NATIVE_OPTIONS):
        fn = option(fn)
    return fn


def build_fields(native: dict, config: str | None = None) -> dict:
    """The :class:`fcslim.pipeline.BuildOptions` fields these options (and
    ``system-packages`` of ``[tool.fcslim]`` in ``config`` or
    ./pyproject.toml) set."""
    configured = system_packages_from_config(Path(config) if config else None)
    return {
        "allow_import_failures": tuple(native.get("allow_import_failures") or ()),
        "system_packages": tuple(dict.fromkeys(configured + tuple(native.get("system_packages") or ()))),
        "auto_system_packages": not native.get("no_auto_system_packages"),
        "strict_optional": bool(native.get("strict_optional")),
        "add_wheels_for_missing": bool(native.get("add_wheel_for_missing")),
        "verify_image": bool(native.get("verify_image")),
    }
