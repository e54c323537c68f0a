"""Targets whose glibc uv cannot name (2.24, 2.26): the profile's tags decide.

uv's ``--python-platform`` knows manylinux 2_17, 2_28 and 2_31 … 2_40 only.
Resolving a glibc 2.26 runtime (Lambda python3.9-3.11 on Amazon Linux 2) as
2_17 silently skips every wheel tagged ``manylinux_2_24`` that the runtime can
load (pandas 3 ships ``cp311-manylinux_2_24`` wheels only).  So fcslim asks uv
for the next target up (2_28) and then judges what uv picked by the
profile's own tags:

* a pinned version with no wheel the profile can load is excluded and the
  resolution run again (``name<=newest that fits``, then ``name!=version``),
  until every pin has a loadable wheel;
* uv would install a 2_28 wheel where the same version also ships a 2_17 one,
  so the install names the exact file: for every pin, the wheel whose best tag
  ranks highest in the profile's tag order, with its SHA-256.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from packaging.version import Version

from fcslim.resolve.diagnose import VersionFiles, diagnose_no_wheel, group_by_version, python_admits, version_fits
from fcslim.resolve.failures import IncompleteLockError
from fcslim.resolve.index import IndexFile, Sources, index_files
from fcslim.resolve.lockfile import LockedPin
from fcslim.target.profile import Profile

MAX_ROUNDS = 8


@dataclass
class ProjectFiles:
    """Index answers per project, asked once per resolution (in parallel)."""

    sources: Sources
    timeout: float
    groups: dict[str, list[VersionFiles]] = field(default_factory=dict)
    unreadable: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, list[IndexFile]] = field(default_factory=dict)

    def prefetch(self, names: Iterable[str]) -> None:
        todo = sorted({n for n in names if n not in self.groups})
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            for name, (files, unreadable) in zip(todo, pool.map(self._ask, todo)):
                self.raw[name] = files
                self.groups[name] = group_by_version(files)
                self.unreadable[name] = unreadable

    def _ask(self, name: str) -> tuple[list[IndexFile], list[str]]:
        return index_files(name, self.sources, self.timeout)

    def version(self, name: str, version: str) -> VersionFiles | None:
        self.prefetch([name])
        wanted = Version(version)
        return next((g for g in self.groups[name] if g.version == wanted), None)


def exclusions(pins: Sequence[LockedPin], built: Iterable[str], profile: Profile,
               files: ProjectFiles) -> dict[str, str]:
    """Constraint specifiers for pins the profile cannot load (empty when all can).

    Raises :class:`NoCompatibleWheelError` for a distribution with no version
    the profile can load at all."""
    skip = set(built)
    files.prefetch(p.name for p in pins if p.name not in skip)
    out: dict[str, str] = {}
    for pin in pins:
        if pin.name in skip:
            continue
        group = files.version(pin.name, pin.version)
        if group is not None and version_fits(group, profile):
            continue
        if group is None and not files.groups[pin.name]:
            continue  # the index does not list it (a URL or local requirement): the post-install check judges it
        fitting = [g for g in files.groups[pin.name] if version_fits(g, profile)]
        if not fitting:
            raise diagnose_no_wheel(pin.name, profile, files.raw[pin.name],
                                    unreadable=files.unreadable[pin.name])
        newest = fitting[0].version
        out[pin.name] = f"<={newest}" if Version(pin.version) > newest else f"!={pin.version}"
    return out


def merge_constraints(current: Mapping[str, list[str]], new: Mapping[str, str]) -> dict[str, list[str]]:
    merged = {name: list(specs) for name, specs in current.items()}
    for name, spec in new.items():
        merged.setdefault(name, [])
        if spec not in merged[name]:
            merged[name].append(spec)
    return merged


def constraint_lines(constraints: Mapping[str, list[str]]) -> str:
    return "".join(f"{name}{','.join(specs)}\n" for name, specs in sorted(constraints.items()))


def best_wheel(group: VersionFiles, profile: Profile) -> IndexFile | None:
    """The wheel of one version the target would pick: the best-ranked tag."""
    best: tuple[int, str, IndexFile] | None = None
    for f, tags in group.wheels:
        if not python_admits(f.requires_python, profile):
            continue
        ranks = [r for r in (profile.tag_rank(t) for t in tags) if r is not None]
        if ranks and (best is None or (min(ranks), f.filename) < best[:2]):
            best = (min(ranks), f.filename, f)
    return best[2] if best else None


def exact_file_requirements(pins: Sequence[LockedPin], built: Iterable[str], profile: Profile,
                            files: ProjectFiles, *, lock: str | None = None) -> tuple[str, bool]:
    """Requirement lines naming, for every pin, the one file to install.

    Returns the text and whether every line carries a hash.  With ``lock``
    (a hash-checked install), the chosen file's hash must be one the lock
    lists for that pin."""
    skip = set(built)
    files.prefetch(p.name for p in pins if p.name not in skip)
    lines: list[str] = []
    hashed = True
    for pin in pins:
        group = None if pin.name in skip else files.version(pin.name, pin.version)
        chosen = best_wheel(group, profile) if group else None
        if chosen is None:
            # built from its sdist, or not on the index: uv picks, the post-install check judges
            lines.append(f"{pin.name}=={pin.version}" + "".join(f" --hash={h}" for h in pin.hashes))
            hashed = hashed and bool(pin.hashes)
            continue
        digest = chosen.digest(files.timeout)
        if lock is not None and pin.hashes and f"sha256:{digest}" not in pin.hashes:
            raise IncompleteLockError(
                f"The lock {lock} has no hash for {chosen.filename}, the only wheel of {pin.name} {pin.version} "
                f"that {profile.name} (glibc {profile.glibc_version}) can load.",
                f"Re-create it with `fcslim lock <requirements.in> --runtime {profile.name}` and run again.",
            )
        lines.append(f"{pin.name} @ {chosen.url} --hash=sha256:{digest}")
    return "".join(line + "\n" for line in lines), hashed
