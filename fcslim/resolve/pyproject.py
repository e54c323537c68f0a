"""Requirements from ``pyproject.toml``: ``[project] dependencies``, the
optional dependencies named by ``--extra`` and the PEP 735 dependency groups
named by ``--group`` (``{include-group = "..."}`` entries followed, cycles
refused).  The project itself is not installed: a function's own code is not
a dependency of its bundle.

Each requirement keeps its place (``pyproject.toml:12``) for error messages.
Dynamic dependencies cannot be read without building the project, so they are
refused with a hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from fcslim.core.errors import InputError, RequirementSyntaxError
from fcslim.core.tomlread import loads_toml


ALL_EXTRAS = ":all:"  # --all-extras (pip's spelling of "every one" in --only-binary)


def expand_extras(extras: tuple[str, ...], known) -> tuple[str, ...]:
    """``extras``, with :data:`ALL_EXTRAS` standing for every known extra."""
    if ALL_EXTRAS not in extras:
        return tuple(extras)
    return tuple(dict.fromkeys([*sorted(known), *(e for e in extras if e != ALL_EXTRAS)]))


@dataclass(frozen=True)
class ProjectRequirement:
    """One requirement string and where the file says it."""

    text: str
    line: int
    origin: str  # "dependencies", "optional-dependencies.fast", "dependency-groups.dev"


def _line_of(lines: list[str], text: str, start: int) -> int:
    """The first line at or after ``start`` (1-based) that quotes ``text``."""
    for number in range(max(start, 1), len(lines) + 1):
        if f'"{text}"' in lines[number - 1] or f"'{text}'" in lines[number - 1]:
            return number
    return start


def _section_start(lines: list[str], header: str) -> int:
    pattern = re.compile(r"^\s*\[\s*" + re.escape(header).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    return next((i + 1 for i, line in enumerate(lines) if pattern.match(line)), 1)


def _groups(data: dict, wanted: tuple[str, ...], path: Path) -> list[tuple[str, str]]:
    """``(requirement, group)`` for the wanted groups, includes followed."""
    table = data.get("dependency-groups", {})
    known = {canonicalize_name(k): k for k in table}
    out: list[tuple[str, str]] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        key = known.get(canonicalize_name(name))
        if key is None:
            raise InputError(f"{path}: there is no dependency group {name!r}.",
                             f"Known groups: {', '.join(sorted(table)) or 'none'} ([dependency-groups]).")
        if key in chain:
            raise InputError(f"{path}: dependency groups include each other: {' -> '.join(chain + (key,))}.",
                             "Remove one of the include-group entries.")
        for item in table[key]:
            if isinstance(item, str):
                out.append((item, key))
            elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
                visit(item["include-group"], chain + (key,))
            else:
                raise InputError(f"{path}: dependency group {key!r} has an entry that is neither a requirement "
                                 f"nor an include-group table: {item!r}.", "Fix the entry (PEP 735).")

    for group in wanted:
        visit(group, ())
    return out


def project_requirements(path: Path, text: str, extras: tuple[str, ...] = (),
                         groups: tuple[str, ...] = ()) -> list[ProjectRequirement]:
    """The requirements of the project in ``text`` (the pyproject.toml at ``path``)."""
    data = loads_toml(text, str(path))
    project = data.get("project")
    if not isinstance(project, dict) and not groups:
        raise InputError(f"{path} has no [project] table, so it lists no dependencies.",
                         "Add [project] dependencies (PEP 621), or pass a requirements file, uv.lock or pylock.toml.")
    project = project if isinstance(project, dict) else {}
    if "dependencies" in project.get("dynamic", []) or (extras and "optional-dependencies" in project.get("dynamic", [])):
        raise InputError(f"{path} declares its dependencies as dynamic; they are only known by building the project.",
                         "List them in [project] dependencies, or pass a requirements file or lock "
                         "(e.g. `uv pip compile pyproject.toml -o requirements.txt`).")
    lines = text.splitlines()
    found: list[tuple[str, str, int]] = []
    start = _section_start(lines, "project")
    found += [(r, "dependencies", start) for r in project.get("dependencies", [])]
    optional = project.get("optional-dependencies", {})
    known = {canonicalize_name(k): k for k in optional}
    for extra in expand_extras(extras, optional):
        key = known.get(canonicalize_name(extra))
        if key is None:
            raise InputError(f"{path}: the project has no extra {extra!r}.",
                             f"Known extras: {', '.join(sorted(optional)) or 'none'} ([project.optional-dependencies]).")
        start = _section_start(lines, "project.optional-dependencies")
        found += [(r, f"optional-dependencies.{key}", start) for r in optional[key]]
    start = _section_start(lines, "dependency-groups")
    found += [(r, f"dependency-groups.{g}", start) for r, g in _groups(data, groups, path)]
    out = []
    for requirement, origin, start in found:
        if not isinstance(requirement, str):
            raise InputError(f"{path}: {origin} has an entry that is not a string: {requirement!r}.",
                             "Write each requirement as a PEP 508 string.")
        line = _line_of(lines, requirement, start)
        try:
            parsed = Requirement(requirement)
        except InvalidRequirement as exc:
            raise RequirementSyntaxError(f"{path}:{line}: cannot parse requirement {requirement!r} ({origin}): {exc}.",
                                         "Write a PEP 508 requirement such as `requests>=2.31`.") from exc
        name = canonicalize_name(parsed.name)
        if name == canonicalize_name(str(project.get("name", ""))):
            continue  # `app[extra]` self-references: the extras are already selected by --extra
        out.append(ProjectRequirement(requirement, line, origin))
    return out
