"""``--pack auto``: the smallest set of artifacts that fits the runtime.

A pure function over a size report (every file with its exact deflated size,
:mod:`fcslim.report.measure`) and the profile's limits
(:class:`fcslim.target.profile.Limits`); nothing is written here.

Layouts are tried in order and the first that fits wins:

``code``    one code zip with everything (the runtime's code root);
``layers``  the heaviest distributions move, one by one, into layers (their
            packages under ``python/``, unpacked into /opt/python) until the
            code zip fits; layers are filled first-fit, heaviest first, each
            under the runtime's layer limit and no more than its layer count.
            A distribution is moved whole: its files, its ``*.libs``
            directory (both are in its RECORD) and its dist-info travel
            together; distributions sharing a regular package (a directory
            with ``__init__.py``) move together; what the bundle itself added
            (fetched libraries in ``lib/``, data files, the ``sitecustomize``
            hook) stays in the code zip, so the hook finds ``lib/`` beside it;
``split``   a small code zip with the loader, and a dependency zip fetched by
            URL at cold start and unpacked into /tmp: it fits when the zip and
            the unpacked tree together fit the function's disk.

When nothing fits, :class:`~fcslim.core.errors.SizeLimitError` (exit 9) says
why each layout failed and what would fit: uploading through object storage,
a bigger disk, a container image, lighter dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from fcslim.core.errors import InputError, SizeLimitError
from fcslim.pack.archive import zip_size
from fcslim.pack.layout import archive_name
from fcslim.core.units import format_size, parse_size
from fcslim.target.profile import Profile

LAYOUTS = ("code", "layers", "split")
# The split layout's code zip: the loader and its configuration (a few KiB);
# its exact size is known only once the dependency zip's digest is written
# into it, and the written zip is gated again.
SPLIT_CODE_ESTIMATE = 16 * 1024
BUNDLE_FILES = "(bundle files)"


@dataclass(frozen=True)
class PlanFile:
    """One bundle file as the planner sees it."""

    path: str
    bytes: int
    deflated: int
    owner: str  # distribution name, or BUNDLE_FILES


@dataclass(frozen=True)
class Unit:
    """What moves as a whole: one distribution, or several sharing a package."""

    distributions: tuple[str, ...]
    files: tuple[PlanFile, ...]

    @property
    def name(self) -> str:
        return " + ".join(self.distributions)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def deflated(self) -> int:
        return sum(f.deflated for f in self.files)


@dataclass(frozen=True)
class PlannedArtifact:
    """One zip the plan writes, with its predicted sizes and its own limit."""

    kind: str  # "code" | "layer" | "deps"
    mount: str  # the code root, the layer root, or "url"
    files: tuple[PlanFile, ...]
    distributions: tuple[str, ...]
    zipped_bytes: int
    unzipped_bytes: int
    limit_bytes: int | None
    limit_name: str  # what the limit is: see fcslim.report.limits.ARTIFACT_LIMITS
    measured_bytes: int  # what is compared with the limit

    @property
    def ok(self) -> bool:
        return self.limit_bytes is None or self.measured_bytes <= self.limit_bytes

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "mount": self.mount, "distributions": list(self.distributions),
                "files": len(self.files), "zipped_bytes": self.zipped_bytes, "unzipped_bytes": self.unzipped_bytes,
                "limit_bytes": self.limit_bytes, "limit": self.limit_name}


@dataclass(frozen=True)
class Attempt:
    layout: str
    fits: bool
    reason: str = ""


@dataclass
class PackPlan:
    layout: str  # one of LAYOUTS
    artifacts: list[PlannedArtifact]
    attempts: list[Attempt] = field(default_factory=list)
    disk_bytes: int | None = None  # the /tmp the split layout was checked against
    disk_needed_bytes: int | None = None  # split: dependency zip + unpacked tree

    def to_dict(self) -> dict:
        return {"layout": self.layout, "artifacts": [a.to_dict() for a in self.artifacts],
                "attempts": [{"layout": a.layout, "fits": a.fits, "reason": a.reason} for a in self.attempts],
                "disk_bytes": self.disk_bytes, "disk_needed_bytes": self.disk_needed_bytes}


@dataclass(frozen=True)
class PlanLimits:
    """The limits one plan is checked against (profile values, or options)."""

    code_bytes: int | None
    code_limit_name: str
    unzipped_bytes: int | None
    layers: int
    layer_bytes: int | None
    disk_bytes: int | None
    disk_bytes_max: int | None
    oss_bytes: int | None  # the code limit through object storage, for advice


def plan_limits(profile: Profile, *, via: str = "api", max_zip: int | str | None = None,
                max_unzipped: int | str | None = None, disk: int | str | None = None) -> PlanLimits:
    """The limits for ``profile``; ``max_zip``/``max_unzipped`` replace the
    code zip's and the unzipped total's, ``disk`` the default /tmp size."""
    lim = profile.limits
    if via == "oss" and lim.zipped_bytes_oss is None and max_zip is None:
        raise InputError(f"{profile.name} has no upload route through object storage.",
                         "Leave out --via oss (the code zip is uploaded directly).")
    code = lim.zipped_bytes_oss if via == "oss" else lim.zipped_bytes
    name = "zipped_oss" if via == "oss" else "zipped"
    if max_zip is not None:
        code, name = parse_size(max_zip), "max_zip"
    disk_bytes = lim.disk_bytes
    if disk is not None:
        disk_bytes = parse_size(disk)
        if lim.disk_bytes_max is not None and disk_bytes > lim.disk_bytes_max:
            raise InputError(f"--disk {disk} is more than {profile.name} allows ({format_size(lim.disk_bytes_max)}).",
                             f"Pass --disk {format_size(lim.disk_bytes_max)} or less.")
    return PlanLimits(code, name, parse_size(max_unzipped) if max_unzipped is not None else lim.unzipped_bytes,
                      lim.layers or 0, lim.layer_zipped_bytes, disk_bytes, lim.disk_bytes_max, lim.zipped_bytes_oss)


# -- units -----------------------------------------------------------------

def plan_files(report) -> list[PlanFile]:
    """The report's files, owned by a wheel distribution or by the bundle."""
    wheels = {d.name for d in report.distributions if d.kind == "wheel"}
    return [PlanFile(f.path, f.bytes, f.deflated, f.distribution if f.distribution in wheels else BUNDLE_FILES)
            for f in report.files]


def units_of(files: Sequence[PlanFile]) -> tuple[list[Unit], Unit]:
    """Movable units (distributions, merged where they share a regular
    package) heaviest first, and the fixed unit of the bundle's own files."""
    paths = {f.path for f in files}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    package_owner: dict[str, str] = {}
    for f in files:
        if f.owner == BUNDLE_FILES:
            continue
        find(f.owner)
        top = f.path.split("/", 1)[0]
        if "/" in f.path and f"{top}/__init__.py" in paths:
            other = package_owner.setdefault(top, f.owner)
            if find(other) != find(f.owner):
                parent[find(f.owner)] = find(other)
    groups: dict[str, list[PlanFile]] = {}
    members: dict[str, set[str]] = {}
    fixed: list[PlanFile] = []
    for f in files:
        if f.owner == BUNDLE_FILES:
            fixed.append(f)
            continue
        root = find(f.owner)
        groups.setdefault(root, []).append(f)
        members.setdefault(root, set()).add(f.owner)
    units = [Unit(tuple(sorted(members[r], key=str.lower)), tuple(fs)) for r, fs in groups.items()]
    units.sort(key=lambda u: (-u.deflated, u.name.lower()))
    return units, Unit((BUNDLE_FILES,), tuple(fixed))


def _zip_bytes(files: Iterable[PlanFile], layout: str, extra: Sequence[tuple[str, int, int]] = ()) -> int:
    return zip_size([(archive_name(f.path, layout), f.bytes, f.deflated) for f in files] + list(extra))


# -- the plan --------------------------------------------------------------

def _code_artifact(profile: Profile, files: Sequence[PlanFile], limits: PlanLimits,
                   extra: Sequence[tuple[str, int, int]], dists: Sequence[str]) -> PlannedArtifact:
    zipped = _zip_bytes(files, "code", extra)
    unzipped = sum(f.bytes for f in files) + sum(e[1] for e in extra)
    return PlannedArtifact("code", profile.code_root, tuple(files), tuple(dists), zipped, unzipped,
                           limits.code_bytes, limits.code_limit_name, zipped)


def _layer_artifact(profile: Profile, units: Sequence[Unit], limits: PlanLimits) -> PlannedArtifact:
    files = tuple(f for u in units for f in u.files)
    zipped = _zip_bytes(files, "layer")
    return PlannedArtifact("layer", profile.layer_root, files, tuple(d for u in units for d in u.distributions),
                           zipped, sum(f.bytes for f in files), limits.layer_bytes, "layer_zipped", zipped)


def _try_code(profile, files, limits, extra, dists) -> tuple[Attempt, list[PlannedArtifact]]:
    code = _code_artifact(profile, files, limits, extra, dists)
    if not code.ok:
        return Attempt("code", False, f"the code zip would be {format_size(code.zipped_bytes)}, over the "
                                      f"{format_size(code.limit_bytes)} limit"), [code]
    if limits.unzipped_bytes is not None and code.unzipped_bytes > limits.unzipped_bytes:
        return Attempt("code", False, f"{format_size(code.unzipped_bytes)} unzipped, over the "
                                      f"{format_size(limits.unzipped_bytes)} limit"), [code]
    return Attempt("code", True), [code]


def _try_layers(profile, units: list[Unit], fixed: Unit, limits: PlanLimits,
                extra) -> tuple[Attempt, list[PlannedArtifact]]:
    if limits.layers <= 0 or limits.layer_bytes is None:
        return Attempt("layers", False, f"{profile.name} has no layers"), []
    total = sum(u.bytes for u in units) + fixed.bytes + sum(e[1] for e in extra)
    if limits.unzipped_bytes is not None and total > limits.unzipped_bytes:
        return Attempt("layers", False, f"code and layers together unpack to {format_size(total)}, over the "
                                        f"{format_size(limits.unzipped_bytes)} limit for all of them"), []
    staying = list(units)
    moved: list[Unit] = []
    while True:
        code_files = [f for u in staying for f in u.files] + list(fixed.files)
        code = _code_artifact(profile, code_files, limits, extra,
                              [d for u in staying for d in u.distributions])
        if code.ok:
            break
        if not staying:
            return Attempt("layers", False, "the bundle's own files (fetched libraries, data, hooks) and the "
                                            "function code alone are over the code zip limit"), []
        moved.append(staying.pop(0))
    if not moved:
        return Attempt("layers", False, "nothing needs to move"), []
    bins: list[list[Unit]] = []
    for unit in moved:
        alone = _layer_artifact(profile, [unit], limits)
        if not alone.ok:
            return Attempt("layers", False, f"{unit.name} alone is {format_size(alone.zipped_bytes)} zipped, over "
                                            f"the {format_size(limits.layer_bytes)} layer limit"), []
        for members in bins:
            if _layer_artifact(profile, members + [unit], limits).ok:
                members.append(unit)
                break
        else:
            bins.append([unit])
    layers = [_layer_artifact(profile, members, limits) for members in bins]
    if len(layers) > limits.layers:
        return Attempt("layers", False, f"it needs {len(layers)} layers, {profile.name} allows "
                                        f"{limits.layers}"), []
    return Attempt("layers", True), [code] + layers


def _try_split(profile, all_files: Sequence[PlanFile], limits: PlanLimits, extra,
               dists) -> tuple[Attempt, list[PlannedArtifact], int]:
    deps_zip = _zip_bytes(all_files, "code")
    unzipped = sum(f.bytes for f in all_files)
    needed = deps_zip + unzipped  # the download and the unpacked tree, side by side at cold start
    code_extra = list(extra) + [("fcslim_loader.py", SPLIT_CODE_ESTIMATE, SPLIT_CODE_ESTIMATE)]
    code = _code_artifact(profile, [], limits, code_extra, [])
    deps = PlannedArtifact("deps", "url", tuple(all_files), tuple(dists), deps_zip, unzipped,
                           limits.disk_bytes, "disk", needed)
    if not code.ok:
        return Attempt("split", False, "the function code alone is over the code zip limit"), [code, deps], needed
    if not deps.ok:
        return Attempt("split", False, f"the loader needs {format_size(needed)} of /tmp (the "
                                       f"{format_size(deps_zip)} download and {format_size(unzipped)} unpacked), "
                                       f"the function has {format_size(limits.disk_bytes)}"), [code, deps], needed
    return Attempt("split", True), [code, deps], needed


def plan_pack(files: Sequence[PlanFile], profile: Profile, limits: PlanLimits, *,
              code_entries: Sequence[tuple[str, int, int]] = (), advice: Sequence[str] = ()) -> PackPlan:
    """The first layout of :data:`LAYOUTS` whose every artifact fits.

    ``code_entries`` are the function's own files (zip name, size, deflated
    size), always in the code zip.  ``advice`` (lighter equivalents, from
    :mod:`fcslim.report.lighter`) is added to the error when nothing fits."""
    units, fixed = units_of(files)
    dists = [d for u in units for d in u.distributions]
    attempts: list[Attempt] = []
    attempt, artifacts = _try_code(profile, files, limits, code_entries, dists)
    attempts.append(attempt)
    if attempt.fits:
        return PackPlan("code", artifacts, attempts)
    attempt, artifacts = _try_layers(profile, units, fixed, limits, code_entries)
    attempts.append(attempt)
    if attempt.fits:
        return PackPlan("layers", artifacts, attempts)
    attempt, artifacts, needed = _try_split(profile, files, limits, code_entries, dists)
    attempts.append(attempt)
    if attempt.fits:
        return PackPlan("split", artifacts, attempts, limits.disk_bytes, needed)
    raise _nothing_fits(profile, files, limits, attempts, needed, code_entries, advice)


def _nothing_fits(profile: Profile, files: Sequence[PlanFile], limits: PlanLimits, attempts: list[Attempt],
                  needed: int, code_entries, advice: Sequence[str]) -> SizeLimitError:
    why = "; ".join(f"{a.layout}: {a.reason}" for a in attempts)
    would: list[str] = []
    zipped = _zip_bytes(files, "code", code_entries)
    if limits.code_limit_name == "zipped" and limits.oss_bytes is not None and zipped <= limits.oss_bytes:
        would.append(f"uploading the code zip through object storage (--via oss: {format_size(zipped)} of "
                     f"{format_size(limits.oss_bytes)})")
    if limits.disk_bytes_max is not None and needed <= limits.disk_bytes_max:
        gib = -(-needed // (1024 ** 3))
        would.append(f"a bigger disk for the split layout (--disk {gib}GiB: the loader needs {format_size(needed)} "
                     f"of /tmp, {profile.name} allows up to {format_size(limits.disk_bytes_max)})")
    would.append("a container image (no code or layer limits)")
    would.extend(advice)
    return SizeLimitError(
        f"No layout of this bundle fits {profile.name}: {why}.",
        "What would fit: " + "; ".join(would) + ".",
    )


def describe_plan(plan: PackPlan) -> str:
    """One line: ``code zip 76.1 MiB and 1 layer (313.0 MiB: tensorflow-cpu, opencv-python)``."""
    code = next((a for a in plan.artifacts if a.kind == "code"), None)
    layers = [a for a in plan.artifacts if a.kind == "layer"]
    deps = next((a for a in plan.artifacts if a.kind == "deps"), None)
    parts = [f"a code zip of {format_size(code.zipped_bytes)}"] if code else []
    for i, layer in enumerate(layers, 1):
        names = ", ".join(layer.distributions[:4]) + (" …" if len(layer.distributions) > 4 else "")
        parts.append(f"layer {i} of {format_size(layer.zipped_bytes)} ({names})")
    if deps:
        parts.append(f"a dependency zip of {format_size(deps.zipped_bytes)} fetched at cold start "
                     f"({format_size(deps.measured_bytes)} of /tmp)")
    return " and ".join(parts)


def layer_names(output_name: str, count: int) -> list[str]:
    """``build.zip`` → ``build.layer1.zip`` … beside it."""
    stem = output_name[:-4] if output_name.endswith(".zip") else output_name
    return [f"{stem}.layer{i}.zip" for i in range(1, count + 1)]
