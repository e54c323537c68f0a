"""deb822, the stanza format of Packages, Release, control and DEP-5
copyright files: the one parser every Debian reader uses.

Hand-written: python-debian, the reference implementation, is GPL-2+, which
does not fit fcslim's MIT licence, and the format is a few rules (RFC 822-style
``Field: value`` lines, continuation lines starting with a space or tab,
stanzas separated by blank lines, ``#`` comments).
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator


def iter_stanzas(lines: Iterable[str], fields: frozenset[str] | None = None) -> Iterator[dict[str, str]]:
    """The stanzas of deb822 ``lines`` (a file opened in text mode streams) as
    dicts.  Continuation lines are joined to their field with newlines.  With
    ``fields`` only those fields are kept (and their continuation lines
    skipped), which makes a 60,000-stanza Packages index cheap to stream."""
    stanza: dict[str, str] = {}
    key: str | None = None
    for line in lines:
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
            continue
        first = line[0]
        if first == "#":
            continue
        if first == " " or first == "\t":
            if key is not None:
                stanza[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or (fields is not None and name not in fields):
            key = None
            continue
        key = name
        stanza[key] = value.strip()
    if stanza:
        yield stanza


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Every stanza of a deb822 document held in memory."""
    return list(iter_stanzas(text.splitlines()))


def licenses_from_copyright(text: str) -> str:
    """The licences a DEP-5 ``debian/copyright`` names (its ``License:`` short
    names, in order of first appearance, joined by ", "), or "see copyright"
    when the file is free-form."""
    if not re.search(r"^Format:\s*\S+", text, re.MULTILINE):
        return "see copyright"
    names: list[str] = []
    for stanza in iter_stanzas(text.splitlines(), frozenset({"License"})):
        value = stanza.get("License")
        if not value:
            continue
        short = value.split("\n", 1)[0].strip()
        if short and short not in names:
            names.append(short)
    return ", ".join(names) if names else "see copyright"
