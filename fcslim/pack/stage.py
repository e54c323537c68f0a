"""The pipeline's last two steps: pack the finished bundle, then gate it.

With a pack, each written artifact is gated against its own limit
(:func:`fcslim.report.limits.check_artifacts`); ``auto`` first plans the
smallest set of artifacts that fits (:mod:`fcslim.pack.plan`).  Without a
pack, the bundle is gated as the code zip it would be
(:func:`fcslim.report.limits.check_limits`), and when it is over, the error
says which layout would fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fcslim.core.errors import SizeLimitError
from fcslim.core.progress import reporter
from fcslim.report.limits import check_artifacts, check_limits
from fcslim.report.measure import SizeReport, build_report
from fcslim.target.profile import Profile

if TYPE_CHECKING:
    from fcslim.pack.archive import PackResult
    from fcslim.pack.plan import PackPlan, PlanLimits


@dataclass(frozen=True)
class PackRequest:
    """What the user asked of the pack and the gate."""

    layout: str | None  # "code" | "layer" | "split" | "auto" | None (no pack)
    output: Path | None
    via: str = "api"
    max_zip: int | str | None = None
    max_unzipped: int | str | None = None
    disk: int | str | None = None
    handler: str | None = None
    code_dir: Path | None = None
    deps_url: str | None = None
    upload: str | None = None  # split: s3:// or oss:// prefix for the dependency zip (fcslim.pack.upload)


@dataclass
class PackOutcome:
    result: PackResult | None
    plan: PackPlan | None
    limits: PlanLimits


def pack_bundle(root: Path, report: SizeReport | None, profile: Profile, request: PackRequest, *,
                advice: list[str] | None = None, gate: bool = True, deps_output: Path | None = None,
                url_env: str = "FCSLIM_DEPS_URL", manifest: bool = True) -> PackOutcome:
    """Plan (for ``auto``, from ``report``) and write the artifacts; assign
    each its limit.  A plan that cannot fit raises :class:`SizeLimitError`
    when ``gate``, else the split layout is written and the reason warned."""
    # The packer and the planner: imported when packing (a build without
    # --pack gates with check_limits alone; start-up of every build).
    from fcslim.pack.archive import pack
    from fcslim.pack.artifacts import assign_limits, pack_auto
    from fcslim.pack.plan import plan_files, plan_limits, plan_pack

    limits = plan_limits(profile, via=request.via, max_zip=request.max_zip, max_unzipped=request.max_unzipped,
                         disk=request.disk)
    plan = None
    layout = request.layout
    if layout == "auto":
        if report is None:
            raise ValueError("--pack auto plans from a size report")
        try:
            plan = plan_pack(plan_files(report), profile, limits, advice=advice or [])
        except SizeLimitError as exc:
            if gate:
                raise
            reporter().warn(f"{exc.message} Writing the split layout anyway (--no-gate).")
            layout = "split"
    if plan is not None:
        result = pack_auto(root, request.output, plan, profile, code_dir=request.code_dir,
                           deps_url=request.deps_url, handler=request.handler, manifest=manifest,
                           upload=request.upload)
    else:
        result = pack(root, request.output, layout, profile, code_dir=request.code_dir, deps_url=request.deps_url,
                      handler=request.handler if layout == "split" else None, deps_output=deps_output,
                      url_env=url_env, manifest=manifest, upload=request.upload if layout == "split" else None)
    assign_limits(result, profile, limits)
    return PackOutcome(result, plan, limits)


def gate_bundle(report: SizeReport | None, profile: Profile, outcome: PackOutcome | None, request: PackRequest) -> None:
    """Exit 9 (SizeLimitError) when an artifact, or the unpacked bundle, is
    over its limit."""
    if outcome is not None and outcome.result is not None:
        archives = outcome.result.archives
        if all(a.ok for a in archives) or report is not None:
            check_artifacts(archives, profile, unzipped_limit=outcome.limits.unzipped_bytes, report=report)
            return
        # Over: measure the bundle to name the biggest contributors.
        check_artifacts(archives, profile, unzipped_limit=outcome.limits.unzipped_bytes,
                        report=build_report(outcome.result.root, profile))
        return
    if report is None:
        raise ValueError("without a pack, the gate measures a size report")
    try:
        check_limits(report, profile, max_zip=request.max_zip, max_unzipped=request.max_unzipped, via=request.via)
    except SizeLimitError as exc:
        from fcslim.pack.plan import describe_plan, plan_files, plan_limits, plan_pack  # over: say what fits

        try:
            limits = plan_limits(profile, via=request.via, max_zip=request.max_zip,
                                 max_unzipped=request.max_unzipped, disk=request.disk)
            plan = plan_pack(plan_files(report), profile, limits)
        except SizeLimitError:
            raise exc from None
        if plan.layout == "code":
            raise
        better = SizeLimitError(exc.message, f"--pack auto would fit it: {describe_plan(plan)}. {exc.hint or ''}")
        raise better from None
