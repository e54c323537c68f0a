"""Artifacts: the zips a pack writes, each with where it goes and its own limit.

:func:`pack_auto` writes what :func:`fcslim.pack.plan.plan_pack` chose (a code
zip; a code zip and layers; or the split layout).  :func:`assign_limits`
gives every written zip of any layout its mount point and the limit that
applies to it alone (the code zip: the code limit for the upload route; a
layer: the layer limit; the split layout's dependency zip: the function's
disk, which must hold the download and the unpacked tree together), so that
:func:`fcslim.report.limits.check_artifacts` gates each against its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from fcslim.core.errors import InputError
from fcslim.core.progress import reporter as current_reporter
from fcslim.core.repeats import collapse_repeats
from fcslim.pack.archive import (
    PackResult,
    ZipMember,
    archive_name,
    list_tree,
    pack,
    user_code_members,
    write_zip,
    zip_date_epoch,
)
from fcslim.pack.handoff import write_manifest
from fcslim.pack.plan import PackPlan, PlanLimits, layer_names
from fcslim.target.profile import Profile


def assign_limits(result: PackResult, profile: Profile, limits: PlanLimits) -> None:
    """Set each archive's mount point, limit and measured bytes."""
    for archive in result.archives:
        if archive.role == "code":
            archive.mount, archive.limit_bytes, archive.limit_name = (profile.code_root, limits.code_bytes,
                                                                      limits.code_limit_name)
            archive.measured_bytes = archive.size
        elif archive.role == "layer":
            archive.mount, archive.limit_bytes, archive.limit_name = (profile.layer_root, limits.layer_bytes,
                                                                      "layer_zipped")
            archive.measured_bytes = archive.size
        elif archive.role == "deps":
            archive.mount, archive.limit_bytes, archive.limit_name = "url", limits.disk_bytes, "disk"
            archive.measured_bytes = archive.size + archive.unzipped_bytes


def pack_auto(root: str | os.PathLike, output: str | os.PathLike, plan: PackPlan, profile: Profile, *,
              code_dir: str | os.PathLike | None = None, deps_url: str | None = None,
              url_env: str = "FCSLIM_DEPS_URL", handler: str | None = None, date_epoch: int | str | None = None,
              manifest: bool = True, reporter=None, upload: str | None = None) -> PackResult:
    """Write ``plan``'s artifacts for bundle ``root``: the code zip at
    ``output``, layers as ``<stem>.layer1.zip`` …, the split layout's
    dependency zip as ``<stem>.deps.zip``."""
    if plan.layout in ("code", "split"):
        return pack(root, output, plan.layout, profile, code_dir=code_dir, deps_url=deps_url, url_env=url_env,
                    date_epoch=date_epoch, manifest=manifest, reporter=reporter,
                    handler=handler if plan.layout == "split" else None,
                    upload=upload if plan.layout == "split" else None)
    if plan.layout != "layers":
        raise InputError(f"Unknown planned layout {plan.layout!r}.", "Plan with fcslim.pack.plan.plan_pack.")
    rep = reporter or current_reporter()
    root, output = Path(root), Path(output)
    epoch = zip_date_epoch(date_epoch)
    layers = [a for a in plan.artifacts if a.kind == "layer"]
    code_plan = next(a for a in plan.artifacts if a.kind == "code")
    with rep.step(f"pack {root} (code zip and {len(layers)} layer{'s' if len(layers) > 1 else ''})"):
        listing = list_tree(root)
        by_path = {f.path: f for f in listing.files}
        result = PackResult(root, "layers", profile, [], listing)
        for line in collapse_repeats(f"left out {link.path} -> {link.target}: {link.reason}"
                                     for link in listing.skipped_links):
            rep.warn(line)
        planned = {p for a in plan.artifacts for p in a.paths}
        missing = sorted(set(by_path) - planned)
        if missing:
            raise InputError(f"The bundle {root} changed after it was planned: {missing[0]} is not in the plan.",
                             "Pack again; nothing may write into the bundle while it is packed.")
        members = [ZipMember(archive_name(p, "code"), by_path[p].size, by_path[p].executable, source=by_path[p].source)
                   for p in code_plan.paths if p in by_path]
        if code_dir is not None:
            members += user_code_members(Path(code_dir), {m.name for m in members})
        with rep.bar(sum(m.size for m in members), "compress code") as bar:
            code = write_zip(members, output, date_epoch=epoch, progress=bar)
        code.role = "code"
        result.archives.append(code)
        for name, layer in zip(layer_names(output.name, len(layers)), layers):
            members = [ZipMember(archive_name(p, "layer"), by_path[p].size, by_path[p].executable,
                                 source=by_path[p].source) for p in layer.paths if p in by_path]
            with rep.bar(sum(m.size for m in members), f"compress {name}") as bar:
                archive = write_zip(members, output.with_name(name), date_epoch=epoch, progress=bar)
            archive.role = "layer"
            result.archives.append(archive)
            result.layer_files[name] = list(layer.paths)
        if manifest:
            result.manifest_path = write_manifest(result, output.with_name(output.name + ".manifest.json"))
    return result
