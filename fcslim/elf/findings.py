"""What a library analysis finds: sonames nothing provides, and files that
cannot load on the target (plain data shared by the graph and its checks)."""

from __future__ import annotations

from dataclasses import dataclass

PROBLEM_KINDS = ("glibc-too-new", "symbol-version-too-new", "wrong-machine", "wrong-class", "malformed")


@dataclass(frozen=True)
class MissingLibrary:
    """A soname nothing in the tree or the runtime provides."""

    soname: str
    needed_by: tuple[str, ...]


@dataclass(frozen=True)
class LoadProblem:
    """A file that cannot load on the target, and why."""

    path: str
    kind: str
    detail: str
