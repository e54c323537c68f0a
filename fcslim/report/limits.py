"""The size gate: is the bundle under the runtime's limits?

Sizes on the command line (``--max-zip``, ``--max-unzipped``) are a number
with an optional unit.  fcslim counts every unit in powers of 1024, because
that is what the providers mean: FC's "100 MB" code limit is 104857600 bytes
and Lambda's "50 MB" is 52428800 (data/runtimes.json holds the limits in
bytes).  So ``100MB``, ``100MiB``, ``100M`` and ``104857600`` are one size;
``K/KB/KiB`` is 1024 and ``G/GB/GiB`` is 1024³.  Sizes are printed in MiB.

Three limits can apply, each measured on the packed bundle:

``zipped``      the code zip uploaded through the API (FC 100 MB, Lambda 50 MB);
                measured as the exact size of the ``code`` layout zip
``zipped_oss``  the code zip uploaded through object storage (FC 500 MB)
``unzipped``    the unpacked bundle (Lambda 250 MB, layers included)

:func:`check_limits` raises :class:`SizeLimitError` (exit 9) naming the limit,
the overshoot and the biggest contributors.
"""

from __future__ import annotations

from dataclasses import dataclass

from fcslim.core.errors import InputError, SizeLimitError
from fcslim.core.units import format_size, parse_size


LIMIT_LABELS = {
    "zipped": "zipped, uploaded through the API",
    "zipped_oss": "zipped, uploaded through object storage",
    "unzipped": "unzipped",
}
UPLOAD_ROUTES = ("api", "oss")


@dataclass(frozen=True)
class LimitCheck:
    """One limit and the bundle's measure against it."""

    name: str  # "zipped" | "zipped_oss" | "unzipped"
    limit_bytes: int
    measured_bytes: int
    source: str  # "profile" | "option"
    gating: bool = True  # False: shown for headroom, not enforced

    @property
    def headroom_bytes(self) -> int:
        return self.limit_bytes - self.measured_bytes

    @property
    def ok(self) -> bool:
        return self.measured_bytes <= self.limit_bytes

    @property
    def label(self) -> str:
        return LIMIT_LABELS[self.name]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "limit_bytes": self.limit_bytes,
            "measured_bytes": self.measured_bytes,
            "headroom_bytes": self.headroom_bytes,
            "ok": self.ok,
            "source": self.source,
            "gating": self.gating,
        }


def limit_checks(zip_bytes: int, unzipped_bytes: int, profile=None, *, max_zip: int | str | None = None,
                 max_unzipped: int | str | None = None, via: str = "api") -> list[LimitCheck]:
    """The limits that apply, measured.  ``--max-zip`` replaces the profile's
    zipped limit for the chosen upload route (``via``: "api" or "oss");
    ``--max-unzipped`` replaces its unzipped limit.  The other route's zipped
    limit is listed for its headroom but does not gate."""
    if via not in UPLOAD_ROUTES:
        raise InputError(f"Unknown upload route {via!r}.", "Use api or oss.")
    limits = getattr(profile, "limits", None)
    gate_name = "zipped" if via == "api" else "zipped_oss"
    checks: list[LimitCheck] = []
    for name in ("zipped", "zipped_oss"):
        configured = getattr(limits, "zipped_bytes" if name == "zipped" else "zipped_bytes_oss", None)
        if name == gate_name and max_zip is not None:
            checks.append(LimitCheck(name, parse_size(max_zip), zip_bytes, "option"))
        elif configured:
            checks.append(LimitCheck(name, configured, zip_bytes, "profile", gating=name == gate_name))
    if max_unzipped is not None:
        checks.append(LimitCheck("unzipped", parse_size(max_unzipped), unzipped_bytes, "option"))
    elif getattr(limits, "unzipped_bytes", None):
        checks.append(LimitCheck("unzipped", limits.unzipped_bytes, unzipped_bytes, "profile"))
    return checks


def check_limits(report, profile=None, max_zip: int | str | None = None, max_unzipped: int | str | None = None,
                 *, via: str = "api", top: int = 5) -> list[LimitCheck]:
    """Raise :class:`SizeLimitError` when ``report`` (a SizeReport) is over a
    gating limit; return the checks otherwise.  Without ``profile`` the
    report's own profile is used."""
    profile = profile if profile is not None else getattr(report, "profile", None)
    checks = limit_checks(report.zip_bytes, report.totals.bytes, profile, max_zip=max_zip,
                          max_unzipped=max_unzipped, via=via)
    over = [c for c in checks if c.gating and not c.ok]
    if not over:
        return checks
    runtime = getattr(profile, "name", None)
    parts = []
    for check in over:
        whose = "the --max-" + ("zip" if check.name.startswith("zipped") else "unzipped") + " limit" \
            if check.source == "option" else f"{runtime}'s limit"
        parts.append(f"{format_size(check.measured_bytes)} {check.label}, over {whose} of "
                     f"{format_size(check.limit_bytes)} by {format_size(-check.headroom_bytes)}")
    zipped = any(c.name.startswith("zipped") for c in over)
    raise SizeLimitError(
        f"The bundle {report.root} is {'; and '.join(parts)}. {biggest_contributors(report, zipped, top)}",
        "Slim it (`fcslim slim`), drop or replace the biggest dependencies, ship them as a layer or with the "
        "split layout (`fcslim pack --layout split`, fetched from OSS/S3 at cold start), or raise the limit "
        "with --max-zip/--max-unzipped if the runtime allows more.",
    )


def biggest_contributors(report, zipped: bool = True, top: int = 5) -> str:
    """``Biggest contributors (zipped): tensorflow 243.3 MiB, …; largest files: …``."""
    measure = "deflated" if zipped else "bytes"
    biggest = sorted(report.distributions, key=lambda d: getattr(d, measure), reverse=True)[:top]
    contributors = ", ".join(f"{d.name} {format_size(getattr(d, measure))}" for d in biggest)
    files = ", ".join(f"{f.path} {format_size(getattr(f, measure))}"
                      for f in sorted(report.files, key=lambda f: getattr(f, measure), reverse=True)[:3])
    return f"Biggest contributors{' (zipped)' if zipped else ''}: {contributors}; largest files: {files}."


ARTIFACT_LIMITS = {
    "zipped": "the code zip uploaded through the API",
    "zipped_oss": "the code zip uploaded through object storage",
    "max_zip": "the --max-zip limit",
    "layer_zipped": "one layer's zip",
    "disk": "the function's disk (/tmp), which holds the download and the unpacked tree",
}


def check_artifacts(archives, profile=None, *, unzipped_limit: int | None = None, report=None) -> None:
    """Gate every written artifact (:class:`fcslim.pack.archive.Archive` with
    its limit assigned) against its own limit, and the code zip and layers
    together against ``unzipped_limit`` (Lambda's 250 MB for all of them);
    :class:`SizeLimitError` names each one that is over (and, given the
    bundle's size ``report``, its biggest contributors)."""
    runtime = getattr(profile, "name", None) or "the runtime"
    parts = []
    for a in archives:
        if a.ok:
            continue
        measured = a.measured_bytes if a.measured_bytes is not None else a.size
        what = (f"needs {format_size(measured)} of /tmp at cold start" if a.limit_name == "disk"
                else f"is {format_size(measured)} zipped")
        parts.append(f"{a.path.name} ({a.role}) {what}, over {runtime}'s "
                     f"{format_size(a.limit_bytes)} for {ARTIFACT_LIMITS.get(a.limit_name or '', a.limit_name)} "
                     f"by {format_size(measured - a.limit_bytes)}")
    unpacked = sum(a.unzipped_bytes for a in archives if a.role in ("code", "layer"))
    if unzipped_limit is not None and unpacked > unzipped_limit:
        parts.append(f"the code zip and layers unpack to {format_size(unpacked)}, over {runtime}'s "
                     f"{format_size(unzipped_limit)} for all of them together")
    if not parts:
        return
    disk = any(a.limit_name == "disk" and not a.ok for a in archives)
    raise SizeLimitError(
        "; ".join(parts) + "." + (f" {biggest_contributors(report)}" if report is not None else ""),
        ("Give the function a bigger disk (--disk, up to the runtime's maximum), " if disk else "")
        + "let fcslim choose a layout that fits (--pack auto: the code zip alone, layers, or the split layout "
          "fetched at cold start), upload through object storage (--via oss) where the runtime allows it, or "
          "replace the biggest dependencies (`fcslim report` lists lighter equivalents).",
    )
