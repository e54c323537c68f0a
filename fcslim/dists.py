"""The one model of an installed distribution: a ``*.dist-info`` directory.

Every stage that needs to know which distributions a tree holds (resolve's
post-install checks, slim, the library graph, the report, the hand-off
manifest) reads them here, so a distribution has one name everywhere:
``Name`` from METADATA, else the directory's name read by
:func:`name_from_dir_name`.  RECORD is read with :mod:`csv` (paths may be
quoted) and normalised to posix paths relative to the tree.
"""

from __future__ import annotations

import csv
import email.message
import email.parser
import io
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

SUFFIX = ".dist-info"


def name_from_dir_name(dir_name: str) -> tuple[str, str | None]:
    """``(name, version)`` from a ``NAME-VERSION.dist-info`` directory name.

    Wheels escape ``-`` in the name (``typing_extensions-4.0.dist-info``), so the
    version follows the first ``-``; legacy installers wrote the name as is
    (``foo-bar-1.0.dist-info``), so when the text after the last ``-`` is a
    version and the text after the first is not, the last ``-`` splits."""
    stem = dir_name[: -len(SUFFIX)] if dir_name.endswith(SUFFIX) else dir_name
    name, _, version = stem.partition("-")
    if "-" in version and not _is_version(version):
        head, _, tail = stem.rpartition("-")
        if _is_version(tail):
            name, version = head, tail
    return name, (version or None)


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def read_metadata(dist_info: Path) -> email.message.Message:
    """The headers of ``METADATA`` (an empty message when it is missing)."""
    path = Path(dist_info) / "METADATA"
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    return email.parser.Parser().parsestr(text, headersonly=True)


def read_record(dist_info: Path) -> list[str] | None:
    """The paths ``RECORD`` lists, normalised to posix form relative to the
    tree (they may start with ``../`` for scripts installed outside it, or be
    absolute); None when there is no RECORD (slimming removes it)."""
    record = Path(dist_info) / "RECORD"
    if not record.is_file():
        return None
    paths = []
    for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8", errors="replace"))):
        if row and row[0]:
            paths.append(posixpath.normpath(row[0].replace("\\", "/")))
    return paths


def inside_tree(path: str) -> bool:
    """Whether a RECORD path (as :func:`read_record` gives it) is in the tree."""
    return not (path == ".." or path.startswith("../") or path.startswith("/"))


def name_and_version(dist_info: Path) -> tuple[str, str | None]:
    """Name and version from METADATA, else from the directory's name."""
    fallback_name, fallback_version = name_from_dir_name(Path(dist_info).name)
    try:
        meta = read_metadata(dist_info)
    except OSError:
        return fallback_name, fallback_version
    return ((meta.get("Name") or fallback_name).strip(),
            (meta.get("Version") or fallback_version or "").strip() or None)


def dist_name(dist_info: Path) -> str:
    """The distribution's name (see :func:`name_and_version`)."""
    return name_and_version(dist_info)[0]


@dataclass(frozen=True)
class DistInfo:
    """One installed distribution as its ``*.dist-info`` describes it."""

    path: Path
    name: str
    version: str
    requires_python: str | None
    requires: tuple[str, ...]
    wheel_tags: tuple[str, ...]
    root_is_purelib: bool
    has_metadata: bool

    @property
    def key(self) -> str:
        """The canonical name (PEP 503), for comparing and indexing."""
        return canonicalize_name(self.name)

    @property
    def dir_name(self) -> str:
        return self.path.name

    def record(self) -> list[str] | None:
        """RECORD's paths (see :func:`read_record`)."""
        return read_record(self.path)

    def entry_points(self) -> str:
        path = self.path / "entry_points.txt"
        return path.read_text(errors="replace") if path.is_file() else ""


def read_dist_info(dist_info: Path) -> DistInfo:
    """The model of one ``*.dist-info`` directory (missing files read as empty)."""
    dist_info = Path(dist_info)
    meta = read_metadata(dist_info)
    fallback_name, fallback_version = name_from_dir_name(dist_info.name)
    wheel_path = dist_info / "WHEEL"
    wheel = email.parser.Parser().parsestr(
        wheel_path.read_text(encoding="utf-8", errors="replace") if wheel_path.is_file() else "",
        headersonly=True,
    )
    return DistInfo(
        path=dist_info,
        name=(meta.get("Name") or fallback_name).strip(),
        version=(meta.get("Version") or fallback_version or "").strip(),
        requires_python=(meta.get("Requires-Python") or "").strip() or None,
        requires=tuple(meta.get_all("Requires-Dist") or ()),
        wheel_tags=tuple(t.strip() for t in wheel.get_all("Tag") or ()),
        root_is_purelib=(wheel.get("Root-Is-Purelib") or "").strip().lower() == "true",
        has_metadata=(dist_info / "METADATA").is_file(),
    )


def dist_info_dirs(root: Path) -> list[Path]:
    """The ``*.dist-info`` directories at the top of ``root``, sorted."""
    root = Path(root)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [root / n for n in names if n.endswith(SUFFIX) and (root / n).is_dir()]


def installed(root: Path) -> list[DistInfo]:
    """Every distribution installed at the top of a pip ``-t`` style tree."""
    return [read_dist_info(path) for path in dist_info_dirs(root)]
