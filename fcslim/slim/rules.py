"""Slimming rules as data: the defaults, the import-time keep list, user globs.

Glob syntax (the same everywhere: data files, ``[tool.fcslim]``, ``--keep`` and
``--remove``), over posix paths relative to the bundle root:

* ``*`` matches within one path component, ``?`` one character, ``[...]`` a set;
* ``**`` matches any number of whole components (``a/**/b``, ``a/**``);
* a pattern with no ``/`` in it (``tests``, ``*.pyi``) matches a file or
  directory *name* at any depth; a pattern with a ``/`` is anchored at the
  bundle root (a leading ``/`` just makes that explicit);
* a pattern that matches a directory covers everything under it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from fcslim.core.errors import InputError
from fcslim.core.tomlread import read_toml
from fcslim.core.inputs import note_input
from fcslim.core.resources import data_path

KINDS = ("delete", "strip-debug", "delete-distribution")
USER_DROP = "user-drop"


class SlimRuleError(InputError):
    """A rules file, a pyproject [tool.fcslim] table or a glob that is invalid."""


def _glob_to_regex(pattern: str) -> str:
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "]") else i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def glob_regex(pattern: str) -> str:
    """The regular expression (without anchors) for one glob, see module doc."""
    pat = pattern.strip()
    if not pat:
        raise SlimRuleError("An empty glob pattern was given.", "Remove it or write a pattern such as 'tests' or 'mypkg/data/**'.")
    pat = pat.rstrip("/") or "/"
    anchored = "/" in pat
    pat = pat.lstrip("/")
    body = _glob_to_regex(pat)
    return body if anchored else "(?:[^/]+/)*" + body


class GlobSet:
    """A set of globs compiled into one regular expression."""

    def __init__(self, patterns: Iterable[str]):
        self.patterns = tuple(patterns)
        if self.patterns:
            alternatives = "|".join(f"(?:{glob_regex(p)})" for p in self.patterns)
            self._regex = re.compile(f"^(?:{alternatives})(?:/.*)?$")
        else:
            self._regex = None
        self._each: list[re.Pattern[str]] | None = None

    def matches(self, path: str) -> bool:
        return bool(self._regex and self._regex.match(path))

    def which(self, path: str) -> str | None:
        """The first pattern that matches ``path`` (for reports; each
        pattern's expression is compiled once, on the first call)."""
        if self._each is None:
            self._each = [re.compile(f"^(?:{glob_regex(p)})(?:/.*)?$") for p in self.patterns]
        for pattern, regex in zip(self.patterns, self._each):
            if regex.match(path):
                return pattern
        return None

    def __bool__(self) -> bool:
        return bool(self.patterns)


@dataclass(frozen=True)
class Rule:
    """One slimming rule: what it removes (or strips) and why."""

    name: str
    why: str
    kind: str = "delete"
    patterns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    distributions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SlimRuleError(f"Slim rule '{self.name}' has kind {self.kind!r}.",
                                f"Use one of {', '.join(KINDS)}.")
        for p in self.patterns + self.exclude:
            glob_regex(p)

    @property
    def include_set(self) -> GlobSet:
        return _globset(self.patterns)

    @property
    def exclude_set(self) -> GlobSet:
        return _globset(self.exclude)

    def to_dict(self) -> dict:
        d = {"name": self.name, "why": self.why, "kind": self.kind}
        if self.patterns:
            d["patterns"] = list(self.patterns)
        if self.exclude:
            d["exclude"] = list(self.exclude)
        if self.distributions:
            d["distributions"] = list(self.distributions)
        return d


_GLOBSETS: dict[tuple[str, ...], GlobSet] = {}


def _globset(patterns: tuple[str, ...]) -> GlobSet:
    gs = _GLOBSETS.get(patterns)
    if gs is None:
        gs = _GLOBSETS[patterns] = GlobSet(patterns)
    return gs


@dataclass(frozen=True)
class KeepEntry:
    pattern: str
    why: str


@dataclass(frozen=True)
class UserRules:
    """Globs from ``[tool.fcslim]`` and the command line.  A keep always wins."""

    keep: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    source: str = ""
    # Distributions to drop whole (--drop), even when another one requires
    # them (GPU-only libraries on a CPU runtime); the import check proves it.
    drop: tuple[str, ...] = ()

    def merged(self, other: "UserRules") -> "UserRules":
        return UserRules(
            keep=self.keep + tuple(k for k in other.keep if k not in self.keep),
            remove=self.remove + tuple(r for r in other.remove if r not in self.remove),
            source=", ".join(s for s in (self.source, other.source) if s),
            drop=self.drop + tuple(d for d in other.drop if d not in self.drop),
        )

    def to_dict(self) -> dict:
        return {"keep": list(self.keep), "remove": list(self.remove), "drop": list(self.drop),
                "source": self.source}


@dataclass(frozen=True)
class RuleSet:
    """Everything a plan needs: the ordered rules, the built-in keep list and the user's globs."""

    rules: tuple[Rule, ...]
    builtin_keep: tuple[KeepEntry, ...] = ()
    user: UserRules = field(default_factory=UserRules)

    def without(self, *names: str) -> "RuleSet":
        return RuleSet(tuple(r for r in self.rules if r.name not in names), self.builtin_keep, self.user)

    def only(self, *names: str) -> "RuleSet":
        return RuleSet(tuple(r for r in self.rules if r.name in names), self.builtin_keep, self.user)

    def with_user(self, user: UserRules) -> "RuleSet":
        return RuleSet(self.rules, self.builtin_keep, user)

    @property
    def keep_set(self) -> GlobSet:
        return _globset(tuple(k.pattern for k in self.builtin_keep))

    @property
    def user_keep_set(self) -> GlobSet:
        return _globset(tuple(self.user.keep))

    def all_rules(self) -> tuple[Rule, ...]:
        """The rules in application order; the user's drops and remove globs
        come first as their own rules so the plan shows what they removed."""
        first: list[Rule] = []
        if self.user.drop:
            first.append(Rule(
                name=USER_DROP,
                why=f"Requested by the user (--drop {' '.join(self.user.drop)}): the whole distribution goes, even "
                    "when another one requires it; the import check proves the rest still loads.",
                kind="delete-distribution",
                distributions=tuple(self.user.drop),
            ))
        if self.user.remove:
            first.append(Rule(
                name="user-remove",
                why=f"Requested by the user ({self.user.source or 'command line'}): remove {', '.join(self.user.remove)}.",
                kind="delete",
                patterns=tuple(self.user.remove),
            ))
        return tuple(first) + self.rules


def _parse_rules(raw: dict, source: str) -> tuple[Rule, ...]:
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise SlimRuleError(f"Slim rules file {source} has no 'rules' list.", "Write {\"rules\": [...]}.")
    rules = []
    seen = set()
    for i, item in enumerate(raw["rules"]):
        if not isinstance(item, dict) or not item.get("name") or not item.get("why"):
            raise SlimRuleError(f"Slim rule #{i + 1} in {source} needs a 'name' and a 'why'.",
                                "Every rule says what it is and why it is safe.")
        if item["name"] in seen:
            raise SlimRuleError(f"Slim rule name '{item['name']}' appears twice in {source}.", "Rename one of them.")
        seen.add(item["name"])
        rules.append(Rule(
            name=item["name"], why=" ".join(item["why"].split()), kind=item.get("kind", "delete"),
            patterns=tuple(item.get("patterns", ())), exclude=tuple(item.get("exclude", ())),
            distributions=tuple(item.get("distributions", ())),
        ))
    return tuple(rules)


def load_rules(path: Path | None = None) -> tuple[Rule, ...]:
    """The rules of ``path`` (default: the built-in data/slim_rules.json)."""
    path = Path(path) if path else data_path("slim_rules.json")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SlimRuleError(f"Slim rules file {path} cannot be read ({exc}).", "Fix or remove it.") from exc
    return _parse_rules(raw, str(path))


def load_import_time_keep(path: Path | None = None) -> tuple[KeepEntry, ...]:
    path = Path(path) if path else data_path("import_time_keep.json")
    raw = json.loads(path.read_text())
    return tuple(KeepEntry(e["pattern"], e.get("why", "")) for e in raw["keep"])


def load_user_rules(config: Path | None = None, *, search_dir: Path | None = None) -> UserRules:
    """``keep``/``remove`` globs from ``[tool.fcslim]`` of ``config``, or of
    ``pyproject.toml`` in ``search_dir`` (default: the current directory) when
    no config is given.  A missing pyproject in the search directory means no
    user rules; a missing ``config`` the user named is an error."""
    if config is None:
        candidate = (Path(search_dir) if search_dir else Path.cwd()) / "pyproject.toml"
        if not candidate.is_file():
            return UserRules()
        path = candidate
    else:
        path = Path(config)
        if not path.is_file():
            raise SlimRuleError(f"Config file {path} does not exist.", "Pass the path of a pyproject.toml with a [tool.fcslim] table.")
    note_input(path)
    data = read_toml(path)  # the one TOML reader: a syntax error is exit 3 naming the file
    table = data.get("tool", {}).get("fcslim", {})
    if not isinstance(table, dict):
        raise SlimRuleError(f"[tool.fcslim] in {path} is not a table.", "Write keep = [...] and remove = [...] under [tool.fcslim].")
    out = {}
    for key in ("keep", "remove"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise SlimRuleError(f"[tool.fcslim] {key} in {path} must be a list of glob strings.",
                                f"Write for example {key} = [\"mypkg/data/**\"].")
        for v in value:
            glob_regex(v)
        out[key] = tuple(value)
    return UserRules(keep=out["keep"], remove=out["remove"], source=f"[tool.fcslim] in {path}")


def cli_user_rules(keep: Sequence[str] = (), remove: Sequence[str] = (), drop: Sequence[str] = ()) -> UserRules:
    for g in list(keep) + list(remove):
        glob_regex(g)
    return UserRules(tuple(keep), tuple(remove), "command line" if (keep or remove or drop) else "", tuple(drop))


def default_ruleset(user: UserRules | None = None) -> RuleSet:
    return RuleSet(load_rules(), load_import_time_keep(), user or UserRules())


def ruleset_for(user: UserRules | None = None, skip_rules: Sequence[str] = ()) -> RuleSet:
    """The default rules with the user's globs, less the rules named in
    ``skip_rules`` (an unknown name is an input error that lists the valid ones)."""
    ruleset = default_ruleset(user)
    known = {r.name for r in ruleset.rules}
    unknown = [n for n in skip_rules if n not in known]
    if unknown:
        raise InputError(f"Unknown slim rule name(s): {', '.join(unknown)}.",
                         f"Rule names: {', '.join(r.name for r in ruleset.rules)}.")
    return ruleset.without(*skip_rules)


def system_packages_from_config(config: Path | None = None, *, search_dir: Path | None = None) -> tuple[str, ...]:
    """``system-packages`` of ``[tool.fcslim]`` (Debian packages whose programs
    the bundle carries), read like :func:`load_user_rules` reads its globs."""
    path = Path(config) if config is not None else (Path(search_dir) if search_dir else Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return ()
    note_input(path)
    table = read_toml(path).get("tool", {}).get("fcslim", {})
    value = table.get("system-packages", []) if isinstance(table, dict) else []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SlimRuleError(f"[tool.fcslim] system-packages in {path} must be a list of Debian package names.",
                            'Write for example system-packages = ["ffmpeg"].')
    return tuple(v.strip() for v in value)
