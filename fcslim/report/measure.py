"""Size accounting for a bundle: what takes the space, zipped and unzipped.

Every file the packer would store (:func:`fcslim.pack.tree.list_tree`: links
dereferenced, ``.fcslim/`` left out) is deflated by :func:`fcslim.pack.deflate.deflate_files`, the
function the packer copies its streams from, so the report's zipped sizes *are*
the pack's: :attr:`SizeReport.zip_bytes` is the exact size of ``fcslim pack
--layout code`` (or ``layer``), and a later pack compresses nothing again.

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
from pathlib import Path

from fcslim.core.errors import FcslimError, InputError
from fcslim.core.records import read_record
from fcslim.report.baseline import compare
from fcslim.report.limits import check_limits, limit_checks  # noqa: F401  (check_limits: the contract names it here too)
from fcslim.report.model import (  # noqa: F401  (renderers and callers read the model from here too)
    CATEGORIES, CATEGORY_LABELS, SCHEMA, DistributionSize, FileSize, LibrarySize, SizeReport, SlimSummary, Totals,
)
from fcslim.core.progress import reporter as current_reporter
from fcslim.report.memo import Measured, measurement_key, recall_measurement, remember_measurement


def _slim_summary(root: Path) -> SlimSummary | None:
    data = read_record(root, "slim.json", strict=True)
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


def measure_ahead(root: str | os.PathLike, layout: str = "code") -> None:
    """Measure ``root`` now and remember the measurement under the tree's
    identity (every file's deflate stream goes to the stream store), so that
    :func:`build_report` later finds it by that identity and only looks it up;
    a tree changed meanwhile (e.g. put back by slim's rollback) has another
    identity and is measured then.  Meant to run while an import check of the
    same tree runs in another process.  Only an optimisation: what cannot be
    read now is left for :func:`build_report`, which reports it."""
    from fcslim.core.progress import QUIET, Reporter
    from fcslim.report.sizing import measure_tree

    root = Path(root)
    try:
        key = measurement_key(root, layout)
        if key is not None and recall_measurement(key) is None:
            remember_measurement(key, measure_tree(root, layout, Reporter(QUIET)))
    except (OSError, FcslimError):
        pass


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
    identity: str | None = None,
    remember: bool = True,
) -> SizeReport:
    """Measure bundle ``root`` (see the module docstring).  ``profile`` gives
    the limits (``max_zip``/``max_unzipped`` override them, see
    :mod:`fcslim.report.limits`); ``layout`` ("code" or "layer") names the zip whose
    exact size is :attr:`SizeReport.zip_bytes`.  ``identity``: the tree's
    :func:`~fcslim.core.treeid.tree_identity`, when the caller has it;
    ``remember=False`` measures without keeping the result (a tree whose
    files are about to change identity, see :func:`remember_report`)."""
    rep = reporter or current_reporter()
    root = Path(root)
    if layout not in ("code", "layer"):
        raise InputError(f"Reports measure the code or layer zip, not {layout!r}.", "Use --layout code or layer.")
    with rep.step("measure sizes"):
        key = measurement_key(root, layout, identity)
        measured = recall_measurement(key) if key else None
        if measured is None:
            # Listing, attribution and deflating are imported only when a
            # tree is measured anew (start-up of a warm rebuild).
            from fcslim.report.sizing import measure_tree

            measured = measure_tree(root, layout, rep)
            if key and remember:
                remember_measurement(key, measured)
    report = SizeReport(
        root=root,
        profile=profile,
        layout=layout,
        files=measured.files,
        totals=measured.totals,
        zip_bytes=measured.zip_bytes,
        categories=measured.categories,
        distributions=measured.distributions,
        libraries=measured.libraries,
        slim=_slim_summary(root),
        limits=limit_checks(measured.zip_bytes, measured.totals.bytes, profile, max_zip=max_zip,
                            max_unzipped=max_unzipped, via=via),
        skipped_links=measured.skipped_links,
        top=top,
    )
    if baseline is not None:
        report.baseline = compare(load_baseline(baseline, profile=profile, layout=layout, reporter=rep), report)
    return report


def remember_report(report: SizeReport) -> None:
    """Remember ``report``'s measurement under its tree's identity as it is
    now: after the bundle cache took the tree's files (hard links, write bits
    removed, so small files are no longer identified by their content), their
    identities are the ones a warm rebuild restores, and its measuring is a
    lookup from the first rebuild on."""
    key = measurement_key(Path(report.root), report.layout)
    if key:
        remember_measurement(key, Measured(report.files, report.totals, report.zip_bytes, report.categories,
                                           report.distributions, report.libraries, report.skipped_links))


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
