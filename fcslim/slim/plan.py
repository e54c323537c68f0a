"""The slim plan: what each rule would remove or strip, why, and how many
bytes; pure (reads the tree, changes nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from fcslim.fetch.record import protected_paths
from fcslim.slim.rules import USER_DROP, Rule, RuleSet, default_ruleset
from fcslim.slim.strip import elf_layout
from fcslim.slim.tree import read_distributions, tree_files, why_needed

SCHEMA = 1


@dataclass
class PlannedRule:
    name: str
    why: str
    kind: str
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    notes: list[str] = field(default_factory=list)
    distributions: list[str] = field(default_factory=list)

    def to_dict(self, with_files: bool = True) -> dict:
        d = {"name": self.name, "why": self.why, "kind": self.kind,
             "file_count": len(self.files), "bytes": self.bytes}
        if with_files:
            d["files"] = list(self.files)
        if self.notes:
            d["notes"] = list(self.notes)
        if self.distributions:
            d["distributions"] = list(self.distributions)
        return d


@dataclass
class SlimPlan:
    root: str
    before_bytes: int
    file_count: int
    rules: list[PlannedRule]
    kept: dict[str, int] = field(default_factory=dict)  # keep pattern -> files it saved
    user: dict = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.rules)

    def to_dict(self, with_files: bool = True) -> dict:
        return {
            "schema": SCHEMA, "root": self.root, "before_bytes": self.before_bytes,
            "planned_bytes": self.bytes, "after_bytes_planned": self.before_bytes - self.bytes,
            "file_count": self.file_count,
            "rules": [r.to_dict(with_files) for r in self.rules],
            "kept_by": dict(sorted(self.kept.items())), "user_rules": self.user,
        }


def _parents_init(path: str, files: dict[str, int]) -> list[str]:
    out = []
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        candidate = "/".join(parts[:i]) + "/__init__.py"
        if candidate in files:
            out.append(candidate)
    return out


def plan_slim(root: Path, profile, rules: RuleSet | None = None) -> SlimPlan:
    """What each rule would remove or strip from ``root``: deterministic, no
    change to the tree."""
    root = Path(root)
    ruleset = rules or default_ruleset()
    files = tree_files(root)
    protected = protected_paths(root)
    keep_set, user_keep = ruleset.keep_set, ruleset.user_keep_set
    claimed: set[str] = set()
    kept_counts: dict[str, int] = {}
    env = profile.marker_environment()
    dists = read_distributions(root)
    planned: list[PlannedRule] = []

    def user_kept(path: str) -> bool:
        return bool(user_keep) and user_keep.matches(path)

    def builtin_kept(path: str) -> bool:
        return keep_set.matches(path)

    # Files that a keep glob saves, and the package __init__.py files above them.
    keep_paths = {p for p in files if builtin_kept(p) or user_kept(p)}
    for p in list(keep_paths):
        keep_paths.update(_parents_init(p, files))

    for rule in ruleset.all_rules():
        entry = PlannedRule(rule.name, rule.why, rule.kind)
        if rule.kind == "delete-distribution":
            _plan_distributions(rule, entry, dists, files, env, user_kept, claimed)
        else:
            include, exclude = rule.include_set, rule.exclude_set
            is_user_rule = rule.name == "user-remove"
            for path in files:
                if path in claimed or not include.matches(path) or (exclude and exclude.matches(path)):
                    continue
                if path in protected:
                    continue
                if path in keep_paths:
                    if user_kept(path) or not is_user_rule:
                        label = (user_keep.which(path) if user_kept(path) else keep_set.which(path)) or "package __init__.py of a kept file"
                        label = f"user keep {label}" if user_kept(path) else label
                        kept_counts[label] = kept_counts.get(label, 0) + 1
                        continue
                if rule.kind == "strip-debug":
                    layout = elf_layout(root / path)
                    if layout is None or layout.debug_bytes == 0:
                        continue
                    entry.files.append(path)
                    entry.bytes += layout.debug_bytes
                else:
                    entry.files.append(path)
                    entry.bytes += files[path]
                    claimed.add(path)
        planned.append(entry)
    return SlimPlan(str(root), sum(files.values()), len(files), planned, kept_counts, ruleset.user.to_dict())


def _plan_distributions(rule: Rule, entry: PlannedRule, dists, files, env, user_kept, claimed) -> None:
    wanted = {canonicalize_name(n) for n in rule.distributions}
    for dist in dists:
        if dist.key not in wanted:
            continue
        reason = why_needed(dist, dists, env)
        own = sorted({f for f in dist.files if f in files} | {f for f in files if f.startswith(dist.dist_info + "/")})
        if reason and rule.name == USER_DROP:
            entry.notes.append(f"dropped {dist.name} on request although {reason}")
        elif reason:
            entry.notes.append(f"kept {dist.name}: {reason}")
            continue
        if any(user_kept(f) for f in own):
            entry.notes.append(f"kept {dist.name}: a user keep glob matches its files")
            continue
        own = [f for f in own if f not in claimed]
        entry.distributions.append(f"{dist.name} {dist.version}")
        entry.files.extend(own)
        entry.bytes += sum(files[f] for f in own)
        claimed.update(own)
    if rule.name == USER_DROP:
        found = {dist.key for dist in dists}
        entry.notes += [f"--drop {name}: not installed" for name in rule.distributions
                        if canonicalize_name(name) not in found]
    entry.files.sort()
