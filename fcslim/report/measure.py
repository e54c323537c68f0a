"""Size accounting for a bundle: what takes the space, zipped and unzipped.

Every file the packer would store (:func:`fcslim.pack.archive.list_tree`: links
dereferenced, ``.fcslim/`` left out) is read once and deflated exactly as the
packer deflates it (raw deflate, zlib level :data:`fcslim.pack.archive.COMPRESS_LEVEL`),
so the report's zipped sizes *are* the pack's: :attr:`SizeReport.zip_bytes` is
the exact size of ``fcslim pack --layout code``.

Each file is attributed to

* the distribution whose ``*.dist-info/RECORD`` lists it (RECORD paths are
  relative to the tree root; ``../../bin/x`` style script paths are matched
  against the tree's own ``bin/``); files missing from every RECORD (e.g.
  ``__pycache__`` written later) go to the one distribution that owns their
  directory;
* the Debian package ``.fcslim/libraries.json`` names for it (fetched
  libraries, data files and their copyright files: kind ``debian``); other
  files in ``lib/`` go to "(system libraries)";
* the hooks `fcslim fetch` wrote (``sitecustomize.py``): "(fcslim hooks)";
* otherwise "(unowned)";

and to one category: ``python`` (.py/.pyc/.pyi), ``extensions`` (ELF files in
packages, by magic bytes), ``libraries`` (fetched system libraries in
``lib/``), ``metadata`` (``*.dist-info``/``*.egg-info``) or ``data``.

Before/after slimming comes from ``.fcslim/slim.json``; ``baseline`` (an
earlier report's JSON, or another bundle directory) adds what grew.
"""

from __future__ import annotations

import json
import os
import posixpath
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from packaging.utils import canonicalize_name

from fcslim.dists import read_metadata, read_record
from fcslim.core.errors import InputError
from fcslim.report.limits import LimitCheck, check_limits, limit_checks  # noqa: F401  (check_limits: the contract names it here too)
from fcslim.pack.archive import COMPRESS_LEVEL, RECORDS_DIR, SkippedLink, TreeFile, archive_name, list_tree, zip_size

SCHEMA = "fcslim.report/1"
CATEGORIES = ("python", "extensions", "libraries", "data", "metadata")
CATEGORY_LABELS = {
    "python": "Python code",
    "extensions": "extension modules",
    "libraries": "system libraries (fetched)",
    "data": "data",
    "metadata": "metadata",
}
UNOWNED = "(unowned)"
SYSTEM_LIBRARIES = "(system libraries)"
FCSLIM_HOOKS = "(fcslim hooks)"
_PYTHON_SUFFIXES = (".py", ".pyc", ".pyi", ".pyo")
_ELF_MAGIC = b"\x7fELF"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileSize:
    path: str
    bytes: int
    deflated: int
    distribution: str
    category: str

    def to_dict(self) -> dict:
        return {"path": self.path, "bytes": self.bytes, "deflated": self.deflated,
                "distribution": self.distribution, "category": self.category}


@dataclass
class Totals:
    files: int = 0
    bytes: int = 0
    deflated: int = 0

    def add(self, f: FileSize) -> None:
        self.files += 1
        self.bytes += f.bytes
        self.deflated += f.deflated

    def to_dict(self) -> dict:
        return {"files": self.files, "bytes": self.bytes, "deflated": self.deflated}


@dataclass
class DistributionSize:
    name: str
    version: str | None
    kind: str  # "wheel" | "debian" | "fcslim" (hooks fetch wrote) | "unowned"
    files: int = 0
    bytes: int = 0
    deflated: int = 0
    categories: dict[str, Totals] = field(default_factory=dict)

    def add(self, f: FileSize) -> None:
        self.files += 1
        self.bytes += f.bytes
        self.deflated += f.deflated
        self.categories.setdefault(f.category, Totals()).add(f)

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "kind": self.kind, "files": self.files,
                "bytes": self.bytes, "deflated": self.deflated,
                "categories": {c: self.categories[c].to_dict() for c in CATEGORIES if c in self.categories}}


@dataclass(frozen=True)
class LibrarySize:
    soname: str | None
    path: str
    package: str | None
    version: str | None
    bytes: int
    deflated: int

    def to_dict(self) -> dict:
        return {"soname": self.soname, "path": self.path, "package": self.package, "version": self.version,
                "bytes": self.bytes, "deflated": self.deflated}


@dataclass(frozen=True)
class SlimSummary:
    before_bytes: int
    after_bytes: int
    rules: tuple[dict, ...] = ()

    @property
    def saved_bytes(self) -> int:
        return self.before_bytes - self.after_bytes

    def to_dict(self) -> dict:
        return {"before_bytes": self.before_bytes, "after_bytes": self.after_bytes,
                "saved_bytes": self.saved_bytes, "rules": list(self.rules)}


@dataclass(frozen=True)
class Change:
    """One row of a baseline comparison."""

    name: str
    before_bytes: int
    after_bytes: int
    before_deflated: int
    after_deflated: int

    @property
    def delta_bytes(self) -> int:
        return self.after_bytes - self.before_bytes

    @property
    def delta_deflated(self) -> int:
        return self.after_deflated - self.before_deflated

    def to_dict(self) -> dict:
        return {"name": self.name, "before_bytes": self.before_bytes, "after_bytes": self.after_bytes,
                "delta_bytes": self.delta_bytes, "before_deflated": self.before_deflated,
                "after_deflated": self.after_deflated, "delta_deflated": self.delta_deflated}


@dataclass
class Comparison:
    """What changed since a baseline report: only rows that changed, biggest
    zipped growth first."""

    source: str
    totals: Change
    zip_before: int
    zip_after: int
    distributions: list[Change]
    categories: list[Change]
    files: list[Change] | None  # None when the baseline has no per-file sizes

    @property
    def grown(self) -> list[Change]:
        return [c for c in self.distributions if c.delta_deflated > 0 or c.delta_bytes > 0]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "totals": self.totals.to_dict(),
            "zip_bytes": {"before": self.zip_before, "after": self.zip_after, "delta": self.zip_after - self.zip_before},
            "distributions": [c.to_dict() for c in self.distributions],
            "categories": [c.to_dict() for c in self.categories],
            "files": None if self.files is None else [c.to_dict() for c in self.files],
        }


@dataclass
class SizeReport:
    root: Path
    profile: Any  # a target.Profile, or None
    layout: str
    files: list[FileSize]
    totals: Totals
    zip_bytes: int
    categories: dict[str, Totals]
    distributions: list[DistributionSize]
    libraries: list[LibrarySize]
    slim: SlimSummary | None
    limits: list[LimitCheck]
    skipped_links: list[SkippedLink] = field(default_factory=list)
    baseline: Comparison | None = None
    top: int = 20

    @property
    def largest(self) -> list[FileSize]:
        return sorted(self.files, key=lambda f: (-f.deflated, f.path))[: self.top]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.limits if c.gating)

    def to_dict(self, include_files: bool = False) -> dict:
        """The versioned JSON form, documented by docs/report-schema.json."""
        profile = self.profile
        return {
            "schema": SCHEMA,
            "root": str(self.root),
            "runtime": getattr(profile, "name", None),
            "layout": self.layout,
            "compress_level": COMPRESS_LEVEL,
            "totals": {**self.totals.to_dict(), "zip_bytes": self.zip_bytes},
            "categories": {c: self.categories.get(c, Totals()).to_dict() for c in CATEGORIES},
            "distributions": [d.to_dict() for d in self.distributions],
            "largest": [f.to_dict() for f in self.largest],
            "libraries": [lib.to_dict() for lib in self.libraries],
            "slim": self.slim.to_dict() if self.slim else None,
            "limits": [c.to_dict() for c in self.limits],
            "ok": self.ok,
            "skipped_links": [{"path": s.path, "target": s.target, "reason": s.reason} for s in self.skipped_links],
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "files": [f.to_dict() for f in self.files] if include_files else None,
        }


# -- measuring -------------------------------------------------------------

def measure_file(path: str | os.PathLike, level: int = COMPRESS_LEVEL) -> tuple[int, int, bool]:
    """``(size, deflated size, is ELF)`` of one file, deflated as the packer does."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    size = deflated = 0
    elf = False
    with open(path, "rb") as handle:
        first = True
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            if first:
                elf = chunk[:4] == _ELF_MAGIC
                first = False
            size += len(chunk)
            deflated += len(compressor.compress(chunk))
    deflated += len(compressor.flush())
    return size, deflated, elf


SIZES_RECORD = "sizes.json"


def _load_memo(root: Path) -> dict[str, list]:
    """Deflated sizes measured earlier (``.fcslim/sizes.json``), by path."""
    record = _read_record(root, SIZES_RECORD) or {}
    if record.get("schema") != 1 or record.get("level") != COMPRESS_LEVEL:
        return {}
    files = record.get("files")
    return files if isinstance(files, dict) else {}


def _measure_all(files: list[TreeFile], reporter, memo: dict[str, list] | None = None
                 ) -> tuple[list[tuple[int, int, bool]], dict[str, list]]:
    """(size, deflated, is ELF) of every file, and the memo to keep.

    A file is deflated only when neither memo knows it: the bundle's own
    (``.fcslim/sizes.json``: same path, size and mtime, which a bundle restored
    from the bundle cache keeps) nor the shared one of
    :mod:`fcslim.report.sizememo` (same inode, size and mtime: files hard-linked out
    of uv's cache or the bundle cache)."""
    from fcslim.report.sizememo import InodeSizeMemo

    memo = memo or {}
    results: list[tuple[int, int, bool] | None] = [None] * len(files)
    stats = [os.stat(f.source) for f in files]
    todo = []
    for i, (f, st) in enumerate(zip(files, stats)):
        known = memo.get(f.path)
        if isinstance(known, list) and len(known) == 4 and known[:2] == [st.st_size, st.st_mtime_ns]:
            results[i] = (st.st_size, int(known[2]), bool(known[3]))
        else:
            todo.append(i)
    shared = InodeSizeMemo()
    if todo:
        for i, hit in zip(todo, shared.lookup([stats[i] for i in todo], COMPRESS_LEVEL)):
            if hit is not None:
                results[i] = (stats[i].st_size, hit[0], hit[1])
        todo = [i for i in todo if results[i] is None]
    fresh = _deflate_all([files[i] for i in todo], reporter)
    for i, value in zip(todo, fresh):
        results[i] = value
    shared.remember([(stats[i], results[i][1], results[i][2]) for i in todo], COMPRESS_LEVEL)
    new_memo = {f.path: [st.st_size, st.st_mtime_ns, r[1], r[2]] for f, st, r in zip(files, stats, results)}
    return results, new_memo  # type: ignore[return-value]


def _deflate_all(files: list[TreeFile], reporter) -> list[tuple[int, int, bool]]:
    # zlib releases the GIL while it compresses: threads use every core.
    workers = max(1, min(8, os.cpu_count() or 1))
    with reporter.bar(sum(f.size for f in files), "deflate") as bar:
        lock = threading.Lock()

        def one(f: TreeFile):
            result = measure_file(f.source)
            with lock:
                bar.advance(f.size)
            return result

        if workers == 1 or len(files) < 64:
            return [one(f) for f in files]
        # Batches keep the number of futures (and their memory) small.
        batches = [files[i:i + 128] for i in range(0, len(files), 128)]
        with ThreadPoolExecutor(workers) as pool:
            return [r for batch in pool.map(lambda b: [one(f) for f in b], batches) for r in batch]


# -- attribution -----------------------------------------------------------

@dataclass(frozen=True)
class _Dist:
    name: str
    version: str | None
    dist_info: str


def _read_metadata_name(dist_info: Path) -> tuple[str, str | None]:
    """Name and version from METADATA, else from the directory's name."""
    stem = dist_info.name.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    try:
        meta = read_metadata(dist_info)
    except OSError:
        return name, version or None
    return (meta.get("Name") or name).strip(), (meta.get("Version") or version).strip() or None


def _record_paths(dist_info: Path, existing: set[str]) -> list[str]:
    paths = []
    for norm in read_record(dist_info) or []:
        if norm.startswith("/"):
            continue
        if norm.startswith("../"):
            # A script installed outside site-packages (../../bin/x): in a pip -t
            # tree it sits in the tree's own bin/.
            stripped = norm
            while stripped.startswith("../"):
                stripped = stripped[3:]
            if stripped in existing:
                paths.append(stripped)
            continue
        paths.append(norm)
    return paths


def _installed_files(root: Path) -> dict[str, list[str]]:
    """Canonical distribution name → files, from ``.fcslim/install.json``: the
    owner list that survives slimming, which deletes RECORD files."""
    try:
        record = json.loads((root / ".fcslim" / "install.json").read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, list[str]] = {}
    for dist in record.get("distributions") or []:
        if isinstance(dist, dict) and dist.get("name"):
            out[canonicalize_name(str(dist["name"]))] = [str(f) for f in dist.get("files") or []]
    return out


class Attribution:
    """Which distribution owns each path of a tree: its RECORD, else the
    install record fcslim wrote (slimming removes RECORD files)."""

    def __init__(self, root: Path, paths: list[str], libraries: dict[str, dict], hooks: list[str] = ()):
        self.root = root
        self.hooks = set(hooks)
        self.dists: dict[str, _Dist] = {}
        self.owner: dict[str, str] = {}
        self.libraries = libraries
        existing = set(paths)
        dir_owners: dict[str, set[str]] = {}
        installed = _installed_files(root)
        for entry in sorted(os.listdir(root)) if root.is_dir() else []:
            if not (entry.endswith(".dist-info") or entry.endswith(".egg-info")):
                continue
            dist_info = root / entry
            if not dist_info.is_dir():
                continue
            name, version = _read_metadata_name(dist_info)
            dist = _Dist(name, version, entry)
            self.dists[name] = dist
            recorded = _record_paths(dist_info, existing) or [
                p for p in installed.get(canonicalize_name(name), []) if p in existing]
            owned = recorded + [p for p in paths if p.startswith(entry + "/")]
            for path in owned:
                self.owner.setdefault(path, name)
                parent = posixpath.dirname(path)
                while parent:
                    dir_owners.setdefault(parent, set()).add(name)
                    parent = posixpath.dirname(parent)
        self.dir_owner = {d: next(iter(o)) for d, o in dir_owners.items() if len(o) == 1}
        self.shared_dirs = {d for d, o in dir_owners.items() if len(o) > 1}

    def distribution(self, path: str) -> tuple[str, str | None, str]:
        """``(name, version, kind)`` for ``path``."""
        name = self.owner.get(path)
        if name is None:
            parent = posixpath.dirname(path)
            while parent and parent not in self.shared_dirs:
                if parent in self.dir_owner:
                    name = self.dir_owner[parent]
                    break
                parent = posixpath.dirname(parent)
        if name is not None:
            return name, self.dists[name].version, "wheel"
        if path in self.hooks:
            return FCSLIM_HOOKS, None, "fcslim"
        fetched = self.libraries.get(path)
        if fetched and fetched.get("package"):
            return str(fetched["package"]), fetched.get("version"), "debian"
        if path.startswith("lib/"):
            return SYSTEM_LIBRARIES, None, "debian"
        return UNOWNED, None, "unowned"


def _debian_owned(record: dict) -> dict[str, dict]:
    """Bundle path → {package, version} for everything `fcslim fetch` copied:
    libraries, data files (magic.mgc...) and their copyright files."""
    owned: dict[str, dict] = {}
    for key in ("fetched", "data_files"):
        for item in record.get(key) or []:
            if not isinstance(item, dict) or not item.get("package"):
                continue
            facts = {"package": item["package"], "version": item.get("version")}
            for path_key in ("path", "copyright"):
                if isinstance(item.get(path_key), str):
                    owned.setdefault(item[path_key], facts)
    return owned


def categorise(path: str, is_elf: bool, kind: str) -> str:
    top = path.split("/", 1)[0]
    if top.endswith(".dist-info") or top.endswith(".egg-info"):
        return "metadata"
    if path.startswith("lib/") and kind != "wheel":
        return "libraries"
    if path.endswith(_PYTHON_SUFFIXES):
        return "python"
    if is_elf:
        return "extensions"
    return "data"


def _read_record(root: Path, name: str) -> dict | None:
    path = root / RECORDS_DIR / name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}).",
                         f"Delete it or run the stage that writes {name} again.") from exc
    return data if isinstance(data, dict) else None


def _slim_summary(root: Path) -> SlimSummary | None:
    data = _read_record(root, "slim.json")
    if not data or not isinstance(data.get("before_bytes"), int) or not isinstance(data.get("after_bytes"), int):
        return None
    rules = []
    for rule in data.get("rules") or []:
        if isinstance(rule, dict):
            files = rule.get("files")
            rules.append({"name": rule.get("name"), "why": rule.get("why"),
                          "files": len(files) if isinstance(files, list) else files,
                          "bytes": rule.get("bytes")})
    return SlimSummary(data["before_bytes"], data["after_bytes"], tuple(rules))


# -- the report ------------------------------------------------------------

def build_report(
    root: str | os.PathLike,
    profile=None,
    *,
    layout: str = "code",
    max_zip: int | str | None = None,
    max_unzipped: int | str | None = None,
    via: str = "api",
    baseline: str | os.PathLike | dict | None = None,
    top: int = 20,
    reporter=None,
    remember: bool = False,
) -> SizeReport:
    """Measure bundle ``root`` (see the module docstring).  ``profile`` gives
    the limits (``max_zip``/``max_unzipped`` override them, see
    :mod:`fcslim.report.limits`); ``layout`` ("code" or "layer") names the zip whose
    exact size is :attr:`SizeReport.zip_bytes`.  With ``remember`` the
    per-file deflated sizes are kept in ``.fcslim/sizes.json`` (and reused
    whenever a file's size and mtime are unchanged)."""
    from fcslim.core.progress import reporter as current_reporter

    rep = reporter or current_reporter()
    root = Path(root)
    if layout not in ("code", "layer"):
        raise InputError(f"Reports measure the code or layer zip, not {layout!r}.", "Use --layout code or layer.")
    with rep.step("measure sizes"):
        listing = list_tree(root)
        libraries_record = _read_record(root, "libraries.json") or {}
        libraries = {str(lib.get("path")): lib for lib in libraries_record.get("fetched") or []
                     if isinstance(lib, dict) and lib.get("path")}
        attribution = Attribution(root, [f.path for f in listing.files], _debian_owned(libraries_record),
                                  hooks=[h for h in libraries_record.get("hooks") or [] if isinstance(h, str)])
        measured, memo = _measure_all(listing.files, rep, _load_memo(root))
        if remember:
            records = root / RECORDS_DIR
            records.mkdir(exist_ok=True)
            (records / SIZES_RECORD).write_text(json.dumps({"schema": 1, "level": COMPRESS_LEVEL, "files": memo}))

    files: list[FileSize] = []
    totals = Totals()
    categories: dict[str, Totals] = {}
    dists: dict[str, DistributionSize] = {}
    for tree_file, (size, deflated, elf) in zip(listing.files, measured):
        name, version, kind = attribution.distribution(tree_file.path)
        entry = FileSize(tree_file.path, size, deflated, name, categorise(tree_file.path, elf, kind))
        files.append(entry)
        totals.add(entry)
        categories.setdefault(entry.category, Totals()).add(entry)
        dists.setdefault(name, DistributionSize(name, version, kind)).add(entry)
    for name, dist in attribution.dists.items():  # installed but emptied by slimming: still listed
        dists.setdefault(name, DistributionSize(name, dist.version, "wheel"))
    zip_bytes = zip_size((archive_name(f.path, layout), f.bytes, f.deflated) for f in files)
    by_path = {f.path: f for f in files}
    library_sizes = []
    for path, lib in sorted(libraries.items()):
        f = by_path.get(path)
        library_sizes.append(LibrarySize(lib.get("soname"), path, lib.get("package"), lib.get("version"),
                                         f.bytes if f else 0, f.deflated if f else 0))
    report = SizeReport(
        root=root,
        profile=profile,
        layout=layout,
        files=files,
        totals=totals,
        zip_bytes=zip_bytes,
        categories=categories,
        distributions=sorted(dists.values(), key=lambda d: (-d.deflated, d.name.lower())),
        libraries=library_sizes,
        slim=_slim_summary(root),
        limits=limit_checks(zip_bytes, totals.bytes, profile, max_zip=max_zip, max_unzipped=max_unzipped, via=via),
        skipped_links=listing.skipped_links,
        top=top,
    )
    if baseline is not None:
        report.baseline = compare(load_baseline(baseline, profile=profile, layout=layout, reporter=rep), report)
    return report


def load_baseline(source: str | os.PathLike | dict, *, profile=None, layout: str = "code", reporter=None) -> dict:
    """A baseline as report JSON: a dict, a report JSON file, or a bundle
    directory (measured now, with every file)."""
    if isinstance(source, dict):
        data = source
        where = "the baseline"
    else:
        path = Path(source)
        if path.is_dir():
            return build_report(path, profile, layout=layout, reporter=reporter).to_dict(include_files=True)
        where = str(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"Cannot read the baseline report {path} ({exc}).",
                             "Pass a file written by `fcslim report --json`, or a bundle directory.") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{where} is not an fcslim report (schema {found!r}, expected {SCHEMA!r}).",
                         "Pass a file written by `fcslim report --json` of this fcslim version, or a bundle directory.")
    return data


def _changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[Change]:
    rows = []
    for name in set(before) | set(after):
        b = before.get(name, (0, 0))
        a = after.get(name, (0, 0))
        if a != b:
            rows.append(Change(name, b[0], a[0], b[1], a[1]))
    rows.sort(key=lambda c: (-c.delta_deflated, -c.delta_bytes, c.name))
    return rows


def compare(baseline: dict, report: SizeReport) -> Comparison:
    """What changed between ``baseline`` (report JSON) and ``report``."""
    now = report.to_dict(include_files=True)
    dists_b = {d["name"]: (d["bytes"], d["deflated"]) for d in baseline.get("distributions", [])}
    dists_a = {d["name"]: (d["bytes"], d["deflated"]) for d in now["distributions"]}
    cats_b = {c: (t["bytes"], t["deflated"]) for c, t in (baseline.get("categories") or {}).items()}
    cats_a = {c: (t["bytes"], t["deflated"]) for c, t in now["categories"].items()}
    files = None
    if baseline.get("files") is not None:
        files = _changes({f["path"]: (f["bytes"], f["deflated"]) for f in baseline["files"]},
                         {f["path"]: (f["bytes"], f["deflated"]) for f in now["files"]})
    tb, ta = baseline.get("totals", {}), now["totals"]
    return Comparison(
        source=str(baseline.get("root")),
        totals=Change("total", tb.get("bytes", 0), ta["bytes"], tb.get("deflated", 0), ta["deflated"]),
        zip_before=tb.get("zip_bytes", 0),
        zip_after=ta["zip_bytes"],
        distributions=_changes(dists_b, dists_a),
        categories=_changes(cats_b, cats_a),
        files=files,
    )
