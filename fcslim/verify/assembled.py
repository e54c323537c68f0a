"""Roots assembled for runtimes whose own Debian release cannot be built here
(FC python3.9 on Debian 9, Lambda on Amazon Linux): the import check must
not see the build host's libraries.

The root is a clean minbase root of the Debian release whose ``python3`` is
the target's CPython version (bullseye for 3.9, bookworm for 3.11, trixie for
3.13: the generic ``debianNN-python3.X`` profiles say which), copied by hard
links, with every shared library the profile's system image does not list
removed, except those the interpreter itself needs (its binary and
``lib-dynload`` modules: the runtime's own Python brings them too), which the
result names.  Libraries the image lists but the root lacks are named as well:
an import that fails on one of them is not proven either way.  Built once per
(image, release) and cached beside the clean roots.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fcslim.elf.facts import is_elf, read_elf
from fcslim.elf.policy import system_image
from fcslim.target.profile import Profile, builtin_profiles
from fcslim.verify import rootfs

LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu",
                "usr/lib/aarch64-linux-gnu")
MARKER = ".fcslim-assembled"


@dataclass(frozen=True)
class AssembledRoot:
    path: Path
    release: str
    removed: tuple[str, ...]  # sonames hidden because the image does not have them
    kept_for_interpreter: tuple[str, ...]  # sonames the image lacks but the interpreter needs
    absent: tuple[str, ...]  # sonames the image has and the root lacks

    def describe(self, profile: Profile) -> str:
        text = (f"Debian {self.release} root with only {profile.system_image}'s system libraries "
                f"({len(self.removed)} others removed)")
        if self.kept_for_interpreter:
            text += f"; kept for the interpreter: {', '.join(self.kept_for_interpreter)}"
        return text


def base_release(profile: Profile) -> str | None:
    """The reachable Debian release whose python3 is the profile's version."""
    for other in builtin_profiles().values():
        if other.provider == "generic" and other.python_version == profile.python_version \
                and other.debian_arch == profile.debian_arch:
            return other.debian.release
    return None


def _sonames(path: Path) -> tuple[str | None, tuple[str, ...]]:
    facts = read_elf(path, path.parent)
    return (facts.soname, facts.needed) if facts.ok else (None, ())


def _interpreter_needs(root: Path, version: str) -> set[str]:
    """Sonames the root's python3.X and its lib-dynload modules need, closed
    over the root's own libraries."""
    starts = [root / "usr/bin" / f"python{version}"]
    dynload = root / "usr/lib" / f"python{version}" / "lib-dynload"
    if dynload.is_dir():
        starts += sorted(dynload.glob("*.so"))
    by_name: dict[str, Path] = {}
    for directory in LIBRARY_DIRS:
        for path in sorted((root / directory).glob("*.so*")) if (root / directory).is_dir() else []:
            by_name.setdefault(path.name, path)
    wanted: set[str] = set()
    pending = [p for p in starts if p.is_file()]
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in seen or not is_elf(path):
            continue
        seen.add(path)
        for need in _sonames(path)[1]:
            if need not in wanted:
                wanted.add(need)
                if need in by_name:
                    pending.append(by_name[need])
    return wanted


def _assembled_path(profile: Profile, base: Path, release: str) -> Path:
    image = system_image(profile)
    digest = hashlib.sha256("\n".join(sorted(image.libraries)).encode()).hexdigest()[:12]
    return base.with_name(f"assembled-{profile.system_image}-{release}-{digest}")


def assembled_root_ready(profile: Profile) -> bool:
    """Whether :func:`ensure_assembled_root` has nothing to build for
    ``profile`` (also when it would refuse at once: no release fits)."""
    release = base_release(profile)
    if release is None:
        return True
    if not rootfs.root_ready(release, profile.debian_arch):
        return False
    return (_assembled_path(profile, rootfs.root_path(release, profile.debian_arch), release) / MARKER).is_file()


def ensure_assembled_root(profile: Profile) -> AssembledRoot:
    """The assembled root for ``profile`` (built when missing)."""
    release = base_release(profile)
    if release is None:
        raise rootfs.RootfsError(f"No reachable Debian release has CPython {profile.python_version}.",
                                 "Pass --python to check with a host interpreter.")
    base = rootfs.ensure_root(release, profile.debian_arch)
    final = _assembled_path(profile, base, release)
    image = system_image(profile)
    record = final / MARKER
    if not record.is_file():
        staging = final.with_name(final.name + f".building-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["cp", "-al", str(base), str(staging)], check=True)
        keep = _interpreter_needs(staging, profile.python_version)
        removed, kept = set(), set()
        for directory in LIBRARY_DIRS:
            folder = staging / directory
            for path in sorted(folder.glob("*.so*")) if folder.is_dir() else []:
                if path.is_dir() or (not path.is_symlink() and not is_elf(path)):
                    continue
                name = path.name
                real_soname = _sonames(path.resolve())[0] if path.exists() else None
                names = {name, real_soname} - {None}
                if names & image.libraries:
                    continue
                if names & keep:
                    kept.update(names & keep)
                    continue
                path.unlink()
                removed.update({real_soname} - {None} or {name})
        present = {p.name for d in LIBRARY_DIRS for p in ((staging / d).glob("*.so*") if (staging / d).is_dir() else [])}
        absent = sorted(s for s in image.libraries if s not in present and not s.startswith("ld-linux-aarch64"))
        (staging / MARKER).write_text("\n".join(["removed " + " ".join(sorted(removed)),
                                                 "kept " + " ".join(sorted(kept)),
                                                 "absent " + " ".join(absent)]) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
    fields = dict(line.split(" ", 1) if " " in line else (line, "") for line in record.read_text().splitlines())
    return AssembledRoot(final, release, tuple(fields.get("removed", "").split()),
                         tuple(fields.get("kept", "").split()), tuple(fields.get("absent", "").split()))
