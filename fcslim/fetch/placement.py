"""Placing files from verified Debian packages into the bundle.

:class:`OpenPackages` downloads, checks (architecture and name against the
control file) and opens each ``.deb`` once per run; :func:`place_library`
writes a library's bytes to ``<lib_dir>/<soname>`` as a regular file (no
symbolic links: zip packers and the FC deploy path handle them badly) and
refuses a file for another machine; :func:`copy_copyright` copies the
package's copyright file to ``<lib_dir>/licenses/<package>/copyright``.
"""

from __future__ import annotations

from pathlib import Path

from fcslim.core.files import atomic_file, atomic_write
from fcslim.core.errors import DebianError
from fcslim.debian.archive import DebianRelease, LibraryLocation
from fcslim.debian.deb822 import licenses_from_copyright
from fcslim.debian.debfile import DebArchive
from fcslim.debian.errors import ArchitectureError
from fcslim.debian.indexes import PackageEntry
from fcslim.elf.facts import read_elf
from fcslim.fetch.record import FetchedLibrary
from fcslim.target.profile import Profile


class OpenPackages:
    """Downloaded, checked and opened .debs of one run, by package name."""

    def __init__(self, release: DebianRelease, profile: Profile):
        self.release = release
        self.profile = profile
        self._open: dict[str, tuple[DebArchive, Path]] = {}

    def get(self, package: PackageEntry) -> tuple[DebArchive, Path]:
        if package.name not in self._open:
            with self.release.held(package) as path:  # read while a cache clean cannot remove it
                deb = DebArchive(path, what=f"{package.name}_{package.version}_{package.architecture}.deb").__enter__()
            control_arch = deb.control.get("Architecture")
            if control_arch and control_arch not in (self.profile.debian_arch, "all"):
                deb.close()
                raise ArchitectureError(
                    f"{package.url} is built for {control_arch}, but {self.profile.name} runs "
                    f"{self.profile.debian_arch}.",
                    "The mirror's index is inconsistent; use another mirror with --debian-mirror.",
                )
            control_name = deb.control.get("Package")
            if control_name and control_name != package.name:
                deb.close()
                raise DebianError(f"{package.url} contains package {control_name}, not {package.name}.",
                                  "The mirror's index is inconsistent; use another mirror with --debian-mirror.")
            self._open[package.name] = (deb, path)
        return self._open[package.name]

    def close(self) -> None:
        for deb, _ in self._open.values():
            deb.close()
        self._open.clear()


def write_file(dest: Path, data: bytes, mode: int) -> None:
    atomic_write(dest, data, mode=mode, role="fetched file", durable=False)


def write_member(dest: Path, deb: DebArchive, member: str, mode: int) -> int:
    """Write a package's file to ``dest`` without holding it in memory; its size."""
    with atomic_file(dest, role="fetched file", mode=mode, durable=False) as handle:
        return deb.copy(member, handle)


def copy_copyright(root: Path, lib_dir: str, deb: DebArchive, package: str) -> tuple[str, str | None]:
    text = deb.copyright()
    if text is None:
        return "unknown (the package has no copyright file)", None
    rel = f"{lib_dir}/licenses/{package}/copyright"
    target = root / rel
    if not target.exists():
        write_file(target, text.encode("utf-8"), 0o644)
    return licenses_from_copyright(text), rel


def place_library(root: Path, lib_dir: str, profile: Profile, location: LibraryLocation,
                   packages: OpenPackages, needed_by: tuple[str, ...]) -> FetchedLibrary:
    package = location.package
    deb, deb_path = packages.get(package)
    member = location.path
    entry = deb.resolve(member)
    if entry is None:
        raise DebianError(
            f"{package.name} {package.version} lists {member} for {location.soname} but the file (after "
            "following its links inside the package) is not in it.",
            "The package may depend on an alternatives link; provide the library yourself in lib/.",
        )
    dest = root / lib_dir / location.soname
    if dest.exists() or dest.is_symlink():
        raise DebianError(
            f"{dest.relative_to(root)} already exists but cannot be loaded on {profile.name}, so "
            f"{location.soname} still counts as missing.",
            "Remove that file (see `fcslim scan` for why it does not load) and run fetch again.",
        )
    size = write_member(dest, deb, member, 0o755)
    facts = read_elf(dest, root)
    if facts.error or facts.machine != profile.elf_machine or facts.elf_class != 64:
        dest.unlink()
        what = facts.error or f"a {facts.elf_class}-bit {facts.machine} file"
        raise ArchitectureError(
            f"{member} from {package.name} {package.version} is {what}; {profile.name} needs a 64-bit "
            f"{profile.elf_machine} library.",
            "The mirror's packages do not match the profile's architecture; check the mirror and the profile's arch.",
        )
    license_text, copyright_rel = copy_copyright(root, lib_dir, deb, package.name)
    return FetchedLibrary(
        soname=location.soname, path=f"{lib_dir}/{location.soname}", package=package.name,
        version=package.version, source_package=package.source, license=license_text,
        deb_url=package.url, deb_sha256=package.sha256, size=size, needed_by=tuple(needed_by),
        suite=package.suite, member=entry.name, copyright=copyright_rel,
    )
