"""PEP 751 ``pylock.toml``: the packages one target installs from it.

Reading follows the PEP's installation steps: ``lock-version`` 1.x;
``environments`` (when present) must admit the target; ``requires-python``
must hold; each package's ``marker`` is evaluated for the target with the
selected extras and dependency groups (``'x' in extras``, ``'g' in
dependency_groups``; with no ``--group``, the lock's ``default-groups``);
packages from ``wheels`` (or an ``archive`` that is a wheel) are installed,
``vcs`` and ``directory`` packages are refused (a bundle holds built wheels).
Spec: https://packaging.python.org/en/latest/specifications/pylock-toml/

The locks ``fcslim lock -o pylock.toml`` writes are uv's PEP 751 output for the
target, under the same ``# fcslim-target:`` comment header as fcslim's
pip-tools locks (TOML comments: every PEP 751 reader skips them).
"""

from __future__ import annotations

from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from fcslim.core.errors import InputError
from fcslim.target.profile import Profile
from fcslim.resolve.pyproject import expand_extras
from fcslim.resolve.locked import LockedFile, LockedPackage, LockedSet, check_requires_python
from fcslim.core.tomlread import loads_toml, read_toml

def _evaluate(marker: str, environment: dict, where: str) -> bool:
    try:
        return Marker(marker).evaluate(environment, "lock_file")
    except InvalidMarker as exc:
        raise InputError(f"{where}: marker {marker!r} is not valid ({exc}).",
                         "Re-create the lock with the tool that wrote it.") from exc


def _file(entry: dict, lock_dir: Path, where: str) -> LockedFile:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: a file entry is not a table.", "Re-create the lock with the tool that wrote it.")
    url = entry.get("url")
    path = entry.get("path")
    if isinstance(path, str):
        local = Path(path) if Path(path).is_absolute() else lock_dir / path
        url = local.resolve().as_uri()
    if not isinstance(url, str):
        raise InputError(f"{where}: a file has neither url nor path.", "Re-create the lock with the tool that wrote it.")
    hashes = entry.get("hashes") or {}
    name = entry.get("name") or url.rsplit("/", 1)[-1]
    sha256 = hashes.get("sha256")
    return LockedFile(str(name), url, sha256.lower() if isinstance(sha256, str) else None, entry.get("size"))


def read_pylock(path: Path, profile: Profile, extras: tuple[str, ...] = (),
                groups: tuple[str, ...] | None = None) -> LockedSet:
    """The packages ``profile`` installs from the pylock.toml at ``path``."""
    data = read_toml(path)
    where = str(path)
    version = str(data.get("lock-version", ""))
    if version.split(".")[0] != "1":
        raise InputError(f"{where} has lock-version {version or 'missing'}; fcslim reads PEP 751 version 1.",
                         "Re-create the lock with a tool that writes pylock.toml version 1.0.")
    environment = profile.marker_environment()
    environments = data.get("environments")
    if environments and not any(_evaluate(m, environment, where) for m in environments):
        raise InputError(f"{where} is locked for {', '.join(environments)}; none of them is {profile.name}.",
                         f"Lock for the target: `fcslim lock INPUT --runtime {profile.name} -o pylock.toml`.")
    check_requires_python(data.get("requires-python"), profile, where)
    extras = expand_extras(extras, data.get("extras", []))
    for kind, asked, known in (("extra", extras, data.get("extras", [])),
                               ("dependency group", groups or (), data.get("dependency-groups", []))):
        unknown = sorted(set(asked) - set(known))
        if unknown:
            raise InputError(f"{where} has no {kind} {', '.join(unknown)}.", f"Known: {', '.join(known) or 'none'}.")
    selection = dict(environment, extras=frozenset(extras),
                     dependency_groups=frozenset(data.get("default-groups", []) if groups is None else groups))
    packages = []
    for entry in data.get("packages", []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise InputError(f"{where}: a [[packages]] entry has no name.", "Re-create the lock.")
        here = f"{where}: package {name} {entry.get('version', '')}".rstrip()
        if entry.get("marker") and not _evaluate(entry["marker"], selection, here):
            continue
        check_requires_python(entry.get("requires-python"), profile, here)
        for kind in ("vcs", "directory"):
            if kind in entry:
                raise InputError(f"{here} comes from a {kind}; a bundle holds built wheels.",
                                 "Build a wheel of it and lock that instead.")
        wheels = tuple(_file(w, path.parent, here) for w in entry.get("wheels", []))
        archive = entry.get("archive")
        if archive and not wheels:
            candidate = _file(archive, path.parent, here)
            wheels = (candidate,) if candidate.filename.endswith(".whl") else ()
        sdist = _file(entry["sdist"], path.parent, here) if "sdist" in entry else None
        packages.append(LockedPackage(canonicalize_name(name), str(entry.get("version", "")), wheels, sdist, here))
    return LockedSet(path, "pylock.toml", tuple(sorted(packages, key=lambda p: p.name)))





def pylock_pins(text: str, where: str = "pylock.toml") -> list[tuple[str, str, tuple[str, ...]]]:
    """``(name, version, sha256 hashes)`` of every package a pylock.toml names."""
    out = []
    for entry in loads_toml(text, where).get("packages", []):
        hashes = tuple(f"sha256:{w['hashes']['sha256']}" for w in entry.get("wheels", [])
                       if isinstance(w.get("hashes"), dict) and "sha256" in w["hashes"])
        out.append((canonicalize_name(entry["name"]), str(entry.get("version", "")), hashes))
    return out
