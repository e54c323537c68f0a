"""Reading ``*.dist-info`` directories: the one RECORD and METADATA reader
every stage uses."""

from __future__ import annotations

import csv
import email.message
import email.parser
import io
import posixpath
from pathlib import Path


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
