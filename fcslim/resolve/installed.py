"""After installing: what the tree holds, checked against the target.

uv is trusted to resolve, not to be right: every installed distribution's
wheel tags must intersect the profile's accepted tags and its
``Requires-Python`` must admit the profile's Python, or nothing is written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name

from fcslim.core.errors import NativeSdistError, ResolutionError
from fcslim.dists import inside_tree, installed
from fcslim.target.profile import Profile


class TargetMismatchError(ResolutionError):
    """An installed distribution the target would not accept (a wheel tag or
    Requires-Python outside the profile)."""


@dataclass(frozen=True)
class InstalledDistribution:
    """One distribution as installed into the tree."""

    name: str
    version: str
    wheel: str
    tags: tuple[str, ...]
    requires_python: str | None
    files: tuple[str, ...]
    size: int
    dist_info: str
    pure: bool

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "wheel": self.wheel,
            "tags": list(self.tags),
            "requires_python": self.requires_python,
            "files": list(self.files),
            "size": self.size,
        }


def compress_tags(tags: Sequence[Tag]) -> str:
    """Tags as a wheel file name writes them (``cp310.cp311-abi3-manylinux…``)."""
    interps = sorted({t.interpreter for t in tags})
    abis = sorted({t.abi for t in tags})
    plats = sorted({t.platform for t in tags})
    return f"{'.'.join(interps)}-{'.'.join(abis)}-{'.'.join(plats)}"


def read_installed(dest: Path) -> list[InstalledDistribution]:
    """Every distribution installed in a pip ``-t`` style tree."""
    dists = []
    root = os.fspath(Path(dest))
    for info in installed(Path(dest)):
        tags: list[Tag] = [t for value in info.wheel_tags for t in parse_tag(value)]
        # RECORD paths outside the tree: pip -t puts nothing there, but RECORD may say so
        files = [rel for rel in info.record() or [] if inside_tree(rel)]
        size = 0
        for rel in files:
            try:
                size += os.stat(os.path.join(root, rel)).st_size
            except OSError:
                pass
        pure = info.root_is_purelib and all(t.abi == "none" and t.platform == "any" for t in tags)
        dist = re.sub(r"[-_.]+", "_", info.name)
        dists.append(InstalledDistribution(
            name=info.name,
            version=info.version,
            wheel=f"{dist}-{info.version}-{compress_tags(tags)}.whl" if tags else f"{dist}-{info.version}.whl",
            tags=tuple(str(t) for t in tags),
            requires_python=info.requires_python,
            files=tuple(sorted(files)),
            size=size,
            dist_info=info.dir_name,
            pure=pure,
        ))
    return dists


def check_installed(dists: Sequence[InstalledDistribution], profile: Profile,
                    built_from_sdist: Iterable[str] = ()) -> None:
    """Fail loudly if anything installed is not for the target."""
    # The index client behind the diagnosis is start-up a warm rebuild, which
    # only reads the tree (read_installed), does not need.
    from fcslim.resolve.diagnose import python_admits, tags_tried_summary, wheel_fits

    built = {canonicalize_name(n) for n in built_from_sdist}
    for d in dists:
        key = canonicalize_name(d.name)
        if key in built and not d.pure:
            raise NativeSdistError(
                f"{d.name} {d.version} was built from its sdist and the result is not pure Python "
                f"(tags {', '.join(d.tags) or 'none'}); a native build on this host does not fit {profile.name}.",
                f"Use a version of {d.name} that publishes a wheel for {profile.name}, or build one in a "
                f"manylinux container for glibc {profile.glibc_version} and pass it with --find-links.",
            )
        tags = [t for s in d.tags for t in parse_tag(s)]
        if not wheel_fits(tags, profile):
            raise TargetMismatchError(
                f"{d.name} {d.version} was installed from a wheel tagged {', '.join(d.tags) or '(no tags)'}, "
                f"which {profile.name} does not accept (it takes {tags_tried_summary(profile)}).",
                "This is a resolver bug: nothing was written to the output. Report it, and pin another version of "
                f"{d.name} meanwhile.",
            )
        if not python_admits(d.requires_python, profile):
            raise TargetMismatchError(
                f"{d.name} {d.version} requires Python {d.requires_python}, but {profile.name} runs "
                f"{profile.python_full_version}.",
                f"Pin an older {d.name} that supports Python {profile.python_version}. This is a resolver bug: "
                "nothing was written to the output.",
            )
