"""Reading pip-style requirement files, with errors that name file and line.

fcslim reads the requirement file itself (rather than handing it to the
resolver untouched) so that a bad line is reported as ``requirements.txt:7``
with what is wrong, so that index options inside the file are known, and so
that a lock (every line carrying ``--hash``) is recognised and installed with
hashes checked.  The parsed lines are written back out in a normalised form
(absolute paths, one requirement per line) for the resolver.

Supported: comments, blank lines, ``\\`` continuations, ``${VAR}`` expansion,
PEP 508 requirements with extras and markers, ``name @ URL``, paths or URLs of
``.whl`` files, per-line ``--hash=ALG:DIGEST``, and the options ``-r``/
``--requirement``, ``-c``/``--constraint``, ``-i``/``--index-url``,
``--extra-index-url``, ``-f``/``--find-links``, ``--no-index``, ``--pre``,
``--only-binary``/``--prefer-binary``/``--trusted-host`` (accepted, no effect:
fcslim installs wheels only unless told otherwise).  Editable and directory
requirements are refused: a bundle holds built distributions.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from fcslim.core.errors import InputError, RequirementSyntaxError
from fcslim.core.inputs import note_input
from fcslim.resolve.reqmodel import RequirementLine, RequirementsFile

_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
# PEP 508's `name[extras] @ URL`: a name, never a path, comes before the "@".
_NAMED_URL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\])?\s*@")
_HASH = re.compile(r"^(sha256|sha384|sha512):[0-9a-fA-F]+$")

# Options that take a value, by every spelling pip accepts.
_VALUE_OPTIONS = {
    "-r": "requirement", "--requirement": "requirement",
    "-c": "constraint", "--constraint": "constraint",
    "-i": "index_url", "--index-url": "index_url",
    "--extra-index-url": "extra_index_url",
    "-f": "find_links", "--find-links": "find_links",
    "--only-binary": "ignored", "--no-binary": "no_binary", "--trusted-host": "ignored",
}
_FLAG_OPTIONS = {"--no-index": "no_index", "--pre": "pre", "--prefer-binary": "ignored",
                 "--require-hashes": "require_hashes"}
_REFUSED_OPTIONS = {"-e", "--editable"}


def parse_requirements(path: Path | str, *, base: Path | None = None, display: str | None = None) -> RequirementsFile:
    """Parse ``path`` and the files it includes; every error names file and line.

    ``base`` is where relative paths in ``path`` itself start (default: its
    directory; standard input uses the current directory) and ``display`` its
    name in messages (``<stdin>``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"Requirement file {path} does not exist or is not a file.",
            "Pass the path of a requirements.txt (or a lock written by `fcslim lock`).",
        )
    result = RequirementsFile(path=path)
    _parse_into(result, path, constraint=False, chain=(), parent=base, shown=display)
    return result


def _logical_lines(path: Path) -> list[tuple[int, str]]:
    """(first line number, text) with continuations joined and comments cut."""
    try:
        raw = path.read_text(encoding="utf-8-sig")  # pip accepts a BOM
    except UnicodeDecodeError as exc:
        raise RequirementSyntaxError(
            f"Requirement file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
            "Save it as UTF-8 and run again.",
        ) from exc
    except OSError as exc:
        raise InputError(f"Cannot read requirement file {path}: {exc.strerror}.",
                         "Check the path and its permissions.") from exc
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, text in enumerate(raw.splitlines(), start=1):
        if not pending:
            start = number
        if text.endswith("\\") and not _COMMENT.search(text[:-1]):
            pending.append(text[:-1])
            continue
        pending.append(text)
        joined = _COMMENT.sub("", " ".join(pending)).strip()
        pending = []
        if joined:
            lines.append((start, joined))
    if pending:
        joined = _COMMENT.sub("", " ".join(pending)).strip()
        if joined:
            lines.append((start, joined))
    return lines


def _header_comments(path: Path) -> list[str]:
    out = []
    for text in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        if not text.startswith("#"):
            break
        out.append(text)
    return out


def _expand(text: str, where: str) -> str:
    def replace(match: re.Match) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise RequirementSyntaxError(
                f"{where}: environment variable ${{{match.group(1)}}} is not set.",
                "Set it, or write the value into the file.",
            )
        return value

    return _ENV_VAR.sub(replace, text)


def _parse_into(result: RequirementsFile, path: Path, *, constraint: bool, chain: tuple[Path, ...],
                parent: Path | None = None, shown: str | None = None) -> None:
    parent = parent or path.parent
    shown = shown or str(path)
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in chain + (resolved,))
        raise RequirementSyntaxError(f"Requirement files include each other in a cycle: {cycle}.",
                                     "Remove one of the -r lines.")
    result.files.append(resolved)
    note_input(resolved)
    if not chain:
        result.header = _header_comments(path)
    for number, text in _logical_lines(path):
        where = f"{shown}:{number}"
        text = _expand(text, where)
        if text.startswith("-") and not text.startswith("--hash"):
            try:
                tokens = shlex.split(text, posix=True)
            except ValueError as exc:
                raise RequirementSyntaxError(f"{where}: cannot split {text!r} ({exc}).",
                                             "Fix the quoting on that line.") from exc
            _parse_option_line(result, path, number, tokens, constraint, chain + (resolved,), parent, shown)
            continue
        line = _parse_requirement_line(path, number, text, parent, shown)
        (result.constraints if constraint else result.requirements).append(line)


def _split_option(tokens: list[str], where: str) -> tuple[str, str | None, list[str]]:
    head = tokens[0]
    if "=" in head and head.startswith("--"):
        name, value = head.split("=", 1)
        return name, value, tokens[1:]
    if head in _VALUE_OPTIONS:
        if len(tokens) < 2:
            raise RequirementSyntaxError(f"{where}: option {head} needs a value.",
                                         f"Write it as `{head} VALUE`.")
        return head, tokens[1], tokens[2:]
    if len(head) > 2 and head[:2] in _VALUE_OPTIONS and not head.startswith("--"):
        return head[:2], head[2:], tokens[1:]
    return head, None, tokens[1:]


def _parse_option_line(result: RequirementsFile, path: Path, number: int, tokens: list[str],
                       constraint: bool, chain: tuple[Path, ...], parent: Path, shown: str) -> None:
    where = f"{shown}:{number}"
    name, value, rest = _split_option(tokens, where)
    if name in _REFUSED_OPTIONS:
        raise RequirementSyntaxError(
            f"{where}: editable requirement {' '.join(tokens[1:]) or ''} cannot go into a bundle.",
            "Build a wheel of that project (`pip wheel`/`uv build`) and list the .whl path instead.",
        )
    if rest:
        raise RequirementSyntaxError(f"{where}: unexpected text after {name}: {' '.join(rest)!r}.",
                                     "Put one option or requirement on each line.")
    kind = _VALUE_OPTIONS.get(name) or _FLAG_OPTIONS.get(name)
    if kind is None:
        raise RequirementSyntaxError(
            f"{where}: unknown option {name}.",
            "fcslim understands -r, -c, --index-url, --extra-index-url, --find-links, --no-index, "
            "--pre and per-requirement --hash; remove the option or pass its equivalent on the command line.",
        )
    if name in _FLAG_OPTIONS and value is not None:
        raise RequirementSyntaxError(f"{where}: option {name} takes no value.", f"Write just `{name}`.")
    if kind in ("requirement", "constraint"):
        included = _local_path(value, parent)
        if not included.is_file():
            raise InputError(f"{where}: included file {value} ({included}) does not exist.",
                             "Fix the path; it is relative to the file that includes it.")
        _parse_into(result, included, constraint=constraint or kind == "constraint", chain=chain)
    elif kind == "index_url":
        result.index_url = value
    elif kind == "extra_index_url":
        result.extra_index_urls.append(value)  # type: ignore[arg-type]
    elif kind == "find_links":
        result.find_links.append(_location(value, parent))  # type: ignore[arg-type]
    elif kind == "no_index":
        result.no_index = True
    elif kind == "pre":
        result.pre = True
    elif kind == "require_hashes":
        result.require_hashes = True
    elif kind == "no_binary":
        result.no_binary.extend(v for v in (value or "").split(",") if v)


def _local_path(value: str | None, base: Path) -> Path:
    text = value or ""
    if text.startswith("file:"):
        text = unquote(urlparse(text).path)
    candidate = Path(text).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate)


def _location(value: str, base: Path) -> str:
    """A find-links value: URLs stay, relative paths become absolute."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", value) and not value.startswith("file:"):
        return value
    local = _local_path(value, base).resolve()
    note_input(local)
    return str(local)


def _parse_requirement_line(path: Path, number: int, text: str, parent: Path, shown: str) -> RequirementLine:
    where = f"{shown}:{number}"
    hashes: list[str] = []
    body_parts: list[str] = []
    tokens = text.split()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--hash"):
            value = token.split("=", 1)[1] if "=" in token else (tokens[i + 1] if i + 1 < len(tokens) else "")
            if "=" not in token:
                i += 1
            if not _HASH.match(value):
                raise RequirementSyntaxError(
                    f"{where}: bad hash {value!r} in {text!r}.",
                    "Write hashes as --hash=sha256:<64 hex digits> (as `fcslim lock` does).",
                )
            hashes.append(value.lower())
        elif token.startswith("--"):
            raise RequirementSyntaxError(f"{where}: unknown per-requirement option {token} in {text!r}.",
                                         "Only --hash is allowed after a requirement.")
        else:
            body_parts.append(token)
        i += 1
    body = " ".join(body_parts)
    requirement = _wheel_path_requirement(body, parent, where)
    if requirement is None:
        try:
            requirement = Requirement(body)
        except InvalidRequirement as exc:
            detail = " ".join(str(exc).split())
            raise RequirementSyntaxError(
                f"{where}: cannot parse requirement {body!r}: {detail}.",
                "Write a PEP 508 requirement such as `requests>=2.31`, `name[extra]==1.2; python_version < \"3.11\"` "
                "or `name @ https://.../name-1.0-py3-none-any.whl`.",
            ) from exc
        empty = [str(spec) for spec in requirement.specifier if not spec.version.strip()]
        if empty:
            raise RequirementSyntaxError(
                f"{where}: cannot parse requirement {body!r}: the specifier {empty[0]!r} has no version.",
                "Write a version after the operator, e.g. `name==1.2`.",
            )
        if requirement.url:
            requirement = _absolute_url_requirement(requirement, parent, where)
    return RequirementLine(requirement=requirement, hashes=tuple(hashes), source=path, line=number, text=text)


def _wheel_path_requirement(body: str, base: Path, where: str) -> Requirement | None:
    """A bare path or URL of a wheel, as pip accepts it, turned into ``name @ URL``."""
    spec, _, marker = body.partition(";")
    spec = spec.strip()
    if _NAMED_URL.match(spec):
        return None  # `name @ URL` (PEP 508) names its distribution itself
    looks_local = spec.startswith((".", "/", "~")) or spec.startswith("file:") or os.sep in spec
    is_url = re.match(r"^https?://", spec) is not None
    if not (looks_local or is_url):
        return None
    if not spec.endswith(".whl"):
        if is_url:
            return None
        raise RequirementSyntaxError(
            f"{where}: {spec!r} is a local project or archive, not a wheel; fcslim installs built wheels.",
            "Build a wheel of it (`uv build` or `pip wheel`) and list the .whl file instead.",
        )
    filename = spec.rsplit("/", 1)[-1]
    try:
        name, _version, _build, _tags = parse_wheel_filename(unquote(filename))
    except InvalidWheelFilename as exc:
        raise RequirementSyntaxError(f"{where}: {filename!r} is not a valid wheel file name ({exc}).",
                                     "Use the wheel's original file name.") from exc
    if is_url:
        url = spec
    else:
        local = _local_path(spec, base).resolve()
        if not local.is_file():
            raise InputError(f"{where}: wheel file {spec} ({local}) does not exist.",
                             "Fix the path; it is relative to the requirement file.")
        url = local.as_uri()
    text = f"{name} @ {url}" + (f" ; {marker.strip()}" if marker.strip() else "")
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise RequirementSyntaxError(f"{where}: cannot parse {body!r} ({exc}).",
                                     "Check the marker after ';'.") from exc


def _absolute_url_requirement(requirement: Requirement, base: Path, where: str) -> Requirement:
    url = requirement.url or ""
    if url.startswith("file:"):
        local = _local_path(url, base).resolve()
        if not local.exists():
            raise InputError(f"{where}: {url} ({local}) does not exist.", "Fix the path.")
        if local.is_dir() or not local.name.endswith(".whl"):
            raise RequirementSyntaxError(
                f"{where}: {requirement.name} @ {url} is a local project or archive, not a wheel; "
                "fcslim installs built wheels.",
                "Build a wheel of it and point the requirement at the .whl file.",
            )
        rebuilt = Requirement(str(requirement))
        rebuilt.url = local.as_uri()
        return rebuilt
    return requirement


def marker_holds(marker: Marker | None, environment: dict[str, str]) -> bool:
    return marker is None or marker.evaluate(dict(environment, extra=""))
