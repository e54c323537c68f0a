"""Import checks in the runtime's real container image (``--verify-image``).

Each FC and Lambda profile names its public image (``data/runtime_images.json``);
with a container engine (docker or podman) whose daemon answers, the check
process runs there with the bundle mounted read-only at the runtime's code root
and the runtime's search paths.  Without one the build stops with a clear
error (exit 8) instead of silently checking somewhere else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from fcslim.core.errors import VerifyError
from fcslim.core.resources import data_path
from fcslim.target.profile import Profile
from fcslim.verify import rootfs
from fcslim.verify.imports import CHILD_SCRIPT, Verifier

ENGINES = ("docker", "podman")


@dataclass(frozen=True)
class RuntimeImage:
    image: str
    python: str


@lru_cache(maxsize=1)
def _images() -> dict:
    return json.loads(data_path("runtime_images.json").read_text())["images"]


def runtime_image(profile: Profile) -> RuntimeImage | None:
    entry = _images().get(profile.name)
    return RuntimeImage(entry["image"], entry["python"]) if entry else None


def find_engine() -> tuple[str | None, str]:
    """(engine path, "") when a container engine answers, else (None, why)."""
    tried = []
    for name in ENGINES:
        path = shutil.which(name)
        if not path:
            tried.append(f"{name}: not installed")
            continue
        try:
            proc = subprocess.run([path, "info"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{name}: {exc}")
            continue
        if proc.returncode == 0:
            return path, ""
        tried.append(f"{name}: " + ((proc.stderr or proc.stdout).strip().splitlines() or ["no answer"])[-1])
    return None, "; ".join(tried)


class ImageVerifier(Verifier):
    scope = "runtime-image"

    def __init__(self, profile: Profile, engine: str, image: RuntimeImage):
        super().__init__(profile)
        self.engine = engine
        self.image = image
        self.where = f"runtime image {image.image} ({Path(engine).name})"

    def _run(self, bundle: Path, modules: Sequence[str]):
        env = rootfs.runtime_env(self.profile)
        argv = [self.engine, "run", "--rm", "--network", "none", "--platform",
                "linux/arm64" if self.profile.arch == "aarch64" else "linux/amd64",
                "-v", f"{Path(bundle).resolve()}:{self.profile.code_root}:ro", "--entrypoint", self.image.python]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        argv += [self.image.image, "-B", "-s", "-c", CHILD_SCRIPT, json.dumps([self.profile.code_root]),
                 json.dumps(list(modules)), *self.child_args()]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return -9, "", "timed out after 900s"
        return proc.returncode, proc.stdout, proc.stderr


def image_verifier(profile: Profile) -> ImageVerifier:
    """The verifier for ``--verify-image``; :class:`VerifyError` (exit 8) when
    the profile names no image or no container engine answers."""
    image = runtime_image(profile)
    if image is None:
        raise VerifyError(f"--verify-image: {profile.name} names no public runtime image.",
                          "Leave out --verify-image: imports are then checked in a clean or assembled root.")
    engine, why = find_engine()
    if engine is None:
        raise VerifyError(
            f"--verify-image needs a container engine to run {image.image}, and none answers here ({why}).",
            "Start docker or podman (or install one), or leave out --verify-image: imports are then checked in "
            "a clean Debian root or a root assembled with only the runtime's system libraries.")
    return ImageVerifier(profile, engine, image)
