"""Near-identical messages collapsed into one line with a count.

A slim of TensorFlow used to print 25 lines of "not stripped <file>: <why>".
Messages that differ only in the paths they name (tokens with a ``/``, or a
shared object's name) are one message: the first keeps its place, names the
count and up to three examples.  Messages seen once are unchanged.
"""

from __future__ import annotations

import re
from typing import Iterable

_PATH = re.compile(r"[\w.+@-]*/[\w./+@-]*[\w+@-]|[\w.+@-]+\.so(?:\.\d+)*\b")
EXAMPLES = 3


def template(message: str) -> str:
    """``message`` with every path replaced by ``<path>``."""
    return _PATH.sub("<path>", message)


def collapse_repeats(messages: Iterable[str]) -> list[str]:
    """``["not stripped a/x.so: why", "not stripped b/y.so: why"]`` →
    ``["not stripped a/x.so: why (and 1 more like it: b/y.so)"]``."""
    order: list[str] = []
    groups: dict[str, list[str]] = {}
    for message in messages:
        key = template(message)
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(message)
    out = []
    for key in order:
        group = groups[key]
        first = group[0]
        if len(group) == 1 or "<path>" not in key:
            out.append(first if len(group) == 1 else f"{first} ({len(group)} times)")
            continue
        others = [_PATH.search(m).group(0) for m in group[1:1 + EXAMPLES]]
        more = ", ".join(others) + (", …" if len(group) - 1 > EXAMPLES else "")
        out.append(f"{first} (and {len(group) - 1} more like it: {more})")
    return out
