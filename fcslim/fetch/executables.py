"""Programs of Debian packages in the bundle's ``bin/``.

``--system-package ffmpeg`` (or ``system-packages`` in ``[tool.fcslim]``)
names a Debian package of the profile's release; installed Python wrappers
that run a program by name (pdf2image, pydub, ffmpeg-python, pytesseract)
bring theirs without asking (``data/system_packages.json``).  Each program is
written to ``bin/<name>`` as a regular file; the fetch closure then brings the
libraries it links and their run-time data.  A program that is a link into a
package the named one depends on (graphviz's ``dot`` and ``neato`` lead to
``/usr/sbin/libgvc6-config-update`` of libgvc6) is taken from there; one whose
link leads nowhere fcslim can follow is left out with a note, never silently.
The programs get a RUNPATH of
``$ORIGIN/../lib`` (and the fetched libraries ``$ORIGIN``), so they find their
libraries wherever the bundle is unpacked (``/code``, ``/opt`` or ``/tmp``),
and the start-up hook puts ``bin/`` first on ``PATH``.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from fcslim.core.errors import DebianError
from fcslim.core.resources import data_path
from fcslim.debian.archive import DebianRelease
from fcslim.debian.errors import NoPackageError
from fcslim.elf.facts import read_elf
from fcslim.elf.policy import installed_distributions
from fcslim.debian.debfile import DebArchive
from fcslim.debian.indexes import PackageEntry
from fcslim.fetch.placement import OpenPackages, copy_copyright, write_member
from fcslim.fetch.record import FetchedExecutable
from fcslim.fetch.rundata import follow_link, parse_depends
from fcslim.target.profile import Profile

BIN_DIR = "bin"


@dataclass(frozen=True)
class ProgramRequest:
    package: str
    requested_by: str  # "--system-package" or "wrapper:<distribution>"


@lru_cache(maxsize=1)
def program_table() -> dict:
    return json.loads(data_path("system_packages.json").read_text())


def requested_programs(root: Path, explicit: Iterable[str], automatic: bool = True) -> list[ProgramRequest]:
    """The Debian packages whose programs the bundle should carry."""
    out: dict[str, ProgramRequest] = {}
    for name in explicit:
        out.setdefault(name, ProgramRequest(name, "--system-package"))
    if automatic:
        wrappers = program_table()["wrappers"]
        for dist in sorted(installed_distributions(root)):
            for package in wrappers.get(dist, ()):
                out.setdefault(package, ProgramRequest(package, f"wrapper:{dist}"))
    return list(out.values())


def _dependencies(deb: DebArchive, release: DebianRelease,
                  packages: OpenPackages) -> Iterator[tuple[DebArchive, PackageEntry]]:
    """The packages ``deb`` depends on (first alternative the release has),
    opened one at a time as they are asked for."""
    for group in parse_depends(deb.control.get("Depends")):
        entry = next((e for e in (release.newest(n) for n in group) if e is not None), None)
        if entry is not None:
            yield packages.get(entry)[0], entry


def place_programs(root: Path, lib_dir: str, profile: Profile, requests: Iterable[ProgramRequest],
                   release: DebianRelease, packages: OpenPackages) -> tuple[list[FetchedExecutable], list[str]]:
    """Write the requested packages' programs to ``bin/``; also the notes on
    programs left out."""
    placed = []
    notes: list[str] = []
    table = program_table()["packages"]
    for request in requests:
        entry = release.newest(request.package)
        if entry is None:
            raise NoPackageError(
                f"Debian {release.release} has no package {request.package} (asked for by {request.requested_by}).",
                "Check the package name (`apt-cache show NAME` on a Debian of that release), or drop it.")
        deb, _ = packages.get(entry)
        wanted = table.get(request.package, {}).get("programs")
        members = [m for m in deb.glob("usr/bin/*") if deb.entries[m].kind != "dir"]
        if wanted:
            members = [m for m in members if posixpath.basename(m) in wanted]
        found = {m: follow_link(m, deb, entry, _dependencies(deb, release, packages)) for m in members}
        lost = sorted(m for m, got in found.items() if got is None)
        if lost:
            notes.append(f"{entry.name}: {len(lost)} program(s) link outside the package and its dependencies and "
                         f"were left out: {', '.join(posixpath.basename(m) for m in lost)}.")
        members = [m for m in members if found[m] is not None]
        if not members:
            raise DebianError(f"{entry.name} {entry.version} has no programs in /usr/bin to bring.",
                              "Name the package that ships the program (`dpkg -S /usr/bin/NAME`).")
        copy_copyright(root, lib_dir, deb, entry.name)
        for member in members:
            source, source_member, owner = found[member]  # type: ignore[misc]
            if owner.name != entry.name:
                copy_copyright(root, lib_dir, source, owner.name)
            rel = f"{BIN_DIR}/{posixpath.basename(member)}"
            size = write_member(root / rel, source, source_member, 0o755)
            facts = read_elf(root / rel, root)
            if facts.ok and (facts.machine != profile.elf_machine or facts.elf_class != 64):
                (root / rel).unlink()
                raise DebianError(f"{member} of {entry.name} is a {facts.elf_class}-bit {facts.machine} program; "
                                  f"{profile.name} runs {profile.elf_machine}.",
                                  "The mirror does not match the profile's architecture.")
            placed.append(FetchedExecutable(
                name=posixpath.basename(member), path=rel, package=owner.name, version=owner.version,
                member=member, size=size, deb_url=owner.url, deb_sha256=owner.sha256,
                requested_by=request.requested_by))
    return placed, notes
