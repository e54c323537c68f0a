"""Slimming a bundle: a plan of rules (what, why, files, bytes), then applying
it without breaking an import.

``plan_slim`` is pure: it reads the tree and says what each rule would remove
or strip.  ``slim`` applies the plan with every removed or stripped file kept in
a backup inside ``.fcslim/``, checks imports in the target before and after
(:mod:`fcslim.verify.imports`), and if a module that imported before no longer does,
finds the rules at fault and, inside each, the files at fault by binary
splitting, puts those files back, re-applies the rest and reports what was kept.
Only then is the backup deleted and ``.fcslim/slim.json`` written.

Files per distribution come from each ``*.dist-info/RECORD`` (or the
``files`` lists of ``.fcslim/install.json`` when RECORD is gone); RECORD is
removed by the ``dist-info-build-records`` rule, not rewritten (see its why).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from fcslim.dists import read_metadata, read_record
from fcslim.fetch.record import protected_paths
from fcslim.verify import imports as verify_mod
from fcslim.verify.bytecode import CompileResult, compile_bytecode
from fcslim.core.errors import VerifyError
from fcslim.core.files import atomic_write, copy_over, move
from fcslim.core.output import check_slim_target, refresh_owner_record
from fcslim.slim.rules import USER_DROP, Rule, RuleSet, default_ruleset

RECORD_DIR = ".fcslim"
BACKUP_DIR = ".fcslim/slim-backup"
SCHEMA = 1


# -- the tree and its distributions ----------------------------------------------

def tree_files(root: Path) -> dict[str, int]:
    """Every file of the bundle (posix path relative to root → size), without
    ``.fcslim/``; symlinks count as files of their own (lstat size)."""
    root = Path(root)
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        if not rel_dir:
            dirnames[:] = [d for d in dirnames if d != RECORD_DIR]
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                out[f"{rel_dir}/{d}".lstrip("/")] = os.lstat(os.path.join(dirpath, d)).st_size
        for f in filenames:
            out[f"{rel_dir}/{f}".lstrip("/")] = os.lstat(os.path.join(dirpath, f)).st_size
    return dict(sorted(out.items()))


def tree_bytes(root: Path) -> int:
    return sum(tree_files(root).values())


@dataclass(frozen=True)
class Distribution:
    """An installed distribution as its dist-info describes it."""

    name: str
    version: str
    dist_info: str
    files: tuple[str, ...]
    requires: tuple[str, ...]
    entry_points: str = ""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    def top_level(self) -> set[str]:
        names = set()
        for f in self.files:
            first = f.split("/")[0]
            if first == self.dist_info or first.endswith((".dist-info", ".data")) or first in ("bin", ".."):
                continue
            if "/" in f:
                names.add(first)
            elif f.endswith(".py"):
                names.add(f[:-3])
            elif f.endswith(".pth"):
                continue
            else:
                names.add(first.split(".")[0])
        return names


def _install_json_files(root: Path) -> dict[str, list[str]]:
    path = root / RECORD_DIR / "install.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {canonicalize_name(d.get("name", "")): list(d.get("files", [])) for d in raw.get("distributions", [])}


def read_distributions(root: Path) -> list[Distribution]:
    """The distributions installed at the root of ``root``."""
    root = Path(root)
    fallback = None
    out = []
    for dist_info in sorted(root.glob("*.dist-info")):
        meta_path = dist_info / "METADATA"
        if not meta_path.is_file():
            continue
        meta = read_metadata(dist_info)
        name = meta.get("Name") or dist_info.name.split("-")[0]
        files = read_record(dist_info)
        if files is None:
            if fallback is None:
                fallback = _install_json_files(root)
            files = fallback.get(canonicalize_name(name), [])
        ep = dist_info / "entry_points.txt"
        out.append(Distribution(
            name=name, version=meta.get("Version", ""), dist_info=dist_info.name,
            files=tuple(files), requires=tuple(meta.get_all("Requires-Dist") or ()),
            entry_points=ep.read_text(errors="replace") if ep.is_file() else "",
        ))
    return out


def requirement_applies(text: str, environment: dict) -> str | None:
    """The canonical name ``text`` requires on this target (no extras), or None."""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.marker is not None:
        try:
            if not req.marker.evaluate(dict(environment, extra="")):
                return None
        except (InvalidMarker, Exception):  # an odd marker: count it as applying
            pass
    return canonicalize_name(req.name)


def why_needed(dist: Distribution, others: Sequence[Distribution], environment: dict) -> str | None:
    """Why ``dist`` must stay (another dist requires it or names it in an entry
    point), or None when nothing installed needs it."""
    modules = dist.top_level()
    for other in others:
        if other.key == dist.key:
            continue
        for text in other.requires:
            if requirement_applies(text, environment) == dist.key:
                return f"{other.name} requires it"
        for line in other.entry_points.splitlines():
            if "=" not in line:
                continue
            target = line.split("=", 1)[1].strip().split(":")[0].split(".")[0]
            if target in modules:
                return f"an entry point of {other.name} uses {target}"
    return None


# -- ELF debug sections ----------------------------------------------------------

@dataclass(frozen=True)
class ElfLayout:
    """What strip must not change, and how many bytes of debug sections there are."""

    debug_bytes: int
    segments: tuple[tuple[int, ...], ...]


def elf_layout(path: Path) -> ElfLayout | None:
    """Section and segment facts read from the headers, or None if not ELF."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF":
                return None
            cls, data = ident[4], ident[5]
            end = "<" if data == 1 else ">"
            if cls == 2:
                phoff, shoff = struct.unpack_from(end + "QQ", ident, 32)
                phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", ident, 54)
            elif cls == 1:
                phoff, shoff = struct.unpack_from(end + "II", ident, 28)
                phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", ident, 42)
            else:
                return None
            segments = []
            f.seek(phoff)
            for _ in range(phnum):
                raw = f.read(phentsize)
                if cls == 2:
                    p_type, p_flags, _off, vaddr, _pa, filesz, memsz, align = struct.unpack_from(end + "IIQQQQQQ", raw)
                else:
                    p_type, _off, vaddr, _pa, filesz, memsz, p_flags, align = struct.unpack_from(end + "IIIIIIII", raw)
                segments.append((p_type, vaddr, filesz, memsz, p_flags, align))
            if shoff == 0 or shnum == 0 or shstrndx >= shnum:
                return ElfLayout(0, tuple(segments))
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = []
            for i in range(shnum):
                raw = table[i * shentsize:(i + 1) * shentsize]
                if cls == 2:
                    name, _t, _fl, _a, off, size = struct.unpack_from(end + "IIQQQQ", raw)
                else:
                    name, _t, _fl, _a, off, size = struct.unpack_from(end + "IIIIII", raw)
                sections.append((name, off, size))
            _n, stroff, strsize = sections[shstrndx]
            f.seek(stroff)
            names = f.read(strsize)
    except (OSError, struct.error, IndexError):
        return None
    debug = 0
    for name_off, _off, size in sections:
        end_idx = names.find(b"\0", name_off)
        name = names[name_off:end_idx if end_idx != -1 else None]
        if name.startswith((b".debug_", b".zdebug_")):
            debug += size
    return ElfLayout(debug, tuple(segments))


def strip_tool(arch: str | None = None) -> str | None:
    """binutils' strip for files of ``arch`` (the host's own, else the cross
    strip ``<arch>-linux-gnu-strip``), or None."""
    if arch and arch != platform.machine():
        return shutil.which(f"{arch}-linux-gnu-strip")
    return shutil.which("strip") or shutil.which("objcopy")


def _no_strip_reason(arch: str | None) -> str:
    if arch and arch != platform.machine():
        return (f"no strip for {arch} files on this {platform.machine()} host: nothing will be stripped "
                f"(apt-get install binutils-{arch.replace('_', '-')}-linux-gnu)")
    return "binutils `strip` is not installed: nothing will be stripped (apt-get install binutils)"


def strip_debug_copy(src: Path, dest: Path, tool: str | None = None, arch: str | None = None) -> str | None:
    """Write ``src`` with its debug sections stripped to ``dest``; None on
    success, else why not (the tool failed, or the segments changed)."""
    tool = tool or strip_tool(arch)
    if tool is None:
        return _no_strip_reason(arch)
    before = elf_layout(src)
    proc = subprocess.run([tool, "--strip-debug", "-o", str(dest), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        dest.unlink(missing_ok=True)
        return f"{Path(tool).name} failed: {' '.join(proc.stderr.split())[:300]}"
    after = elf_layout(dest)
    if before is None or after is None or after.segments != before.segments:
        dest.unlink(missing_ok=True)
        return "stripping would change the program headers; left as it was"
    shutil.copymode(src, dest)
    return None


# -- the plan ----------------------------------------------------------------

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
            if rule.kind == "strip-debug" and entry.files and strip_tool(getattr(profile, "arch", None)) is None:
                entry.notes.append(_no_strip_reason(getattr(profile, "arch", None)))
                entry.files, entry.bytes = [], 0  # planned only what can be done
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


# -- applying with a backup ----------------------------------------------------------

@dataclass(frozen=True)
class Action:
    rule: str
    path: str
    kind: str  # "delete" | "strip-debug"


class _Tree:
    """Moves files between the bundle and the backup so that exactly a given
    set of actions is applied."""

    def __init__(self, root: Path, arch: str | None = None):
        self.root = Path(root)
        self.arch = arch
        self.backup = self.root / BACKUP_DIR
        self.applied: set[Action] = set()
        self.strip_failures: dict[str, str] = {}

    def _removed(self, path: str) -> Path:
        return self.backup / "removed" / path

    def _apply(self, action: Action) -> bool:
        live = self.root / action.path
        if action.kind == "strip-debug":
            stripped = self.backup / "stripped" / action.path
            original = self.backup / "original" / action.path
            if not stripped.exists():
                if action.path in self.strip_failures:
                    return False
                stripped.parent.mkdir(parents=True, exist_ok=True)
                original.parent.mkdir(parents=True, exist_ok=True)
                problem = strip_debug_copy(live, stripped, arch=self.arch)
                if problem:
                    self.strip_failures[action.path] = problem
                    return False
                shutil.copy2(live, original)
            copy_over(stripped, live)
            return True
        target = self._removed(action.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        move(live, target)
        return True

    def _revert(self, action: Action) -> None:
        live = self.root / action.path
        if action.kind == "strip-debug":
            copy_over(self.backup / "original" / action.path, live)
            return
        live.parent.mkdir(parents=True, exist_ok=True)
        move(self._removed(action.path), live)

    def set_applied(self, wanted: Iterable[Action]) -> None:
        wanted = {a for a in set(wanted) if a.path not in self.strip_failures}
        for action in sorted(self.applied - wanted, key=lambda a: a.path):
            self._revert(action)
            self.applied.discard(action)
        touched_dirs = set()
        for action in sorted(wanted - self.applied, key=lambda a: a.path):
            if self._apply(action):
                self.applied.add(action)
                if action.kind == "delete":
                    touched_dirs.add(str(Path(action.path).parent))
        self._prune(touched_dirs)

    def _prune(self, dirs: set[str]) -> None:
        for rel in sorted(dirs, key=lambda d: -d.count("/")):
            current = self.root / rel
            while current != self.root and current.is_dir() and not any(current.iterdir()):
                current.rmdir()
                current = current.parent

    def recover(self) -> list[str]:
        """Put back what an interrupted earlier run left in the backup."""
        restored = []
        removed = self.backup / "removed"
        if removed.exists():
            for rel in tree_files(removed):
                live = self.root / rel
                if not live.exists():
                    live.parent.mkdir(parents=True, exist_ok=True)
                    move(removed / rel, live)
                    restored.append(rel)
        original = self.backup / "original"
        if original.exists():
            for rel in tree_files(original):
                copy_over(original / rel, self.root / rel)
                restored.append(rel)
        self.discard_backup()
        return restored

    def discard_backup(self) -> None:
        shutil.rmtree(self.backup, ignore_errors=True)


# -- results --------------------------------------------------------------

@dataclass
class RolledBack:
    """Files of a rule that were put back because removing them broke imports."""

    rule: str
    files: list[str]
    bytes: int
    modules: list[str]
    errors: dict[str, str]

    def to_dict(self) -> dict:
        return {"rule": self.rule, "files": self.files, "bytes": self.bytes,
                "modules": self.modules, "errors": self.errors}


@dataclass
class SlimResult:
    plan: SlimPlan
    applied: bool
    before_bytes: int
    after_bytes: int
    rules: list[PlannedRule] = field(default_factory=list)  # what was actually done
    rolled_back: list[RolledBack] = field(default_factory=list)
    baseline: verify_mod.VerifyResult | None = None
    verified: verify_mod.VerifyResult | None = None
    compiled: CompileResult | None = None
    notes: list[str] = field(default_factory=list)
    verification_runs: int = 0

    @property
    def saved_bytes(self) -> int:
        return self.before_bytes - self.after_bytes

    def record(self) -> dict:
        """The ``.fcslim/slim.json`` document (contract schema 1)."""
        def vdict(v):
            return v.to_dict() if v is not None else {"checked": False, "reason": "verification was turned off"}
        return {
            "schema": SCHEMA,
            "before_bytes": self.before_bytes,
            "after_bytes": self.after_bytes,
            "rules": [r.to_dict() for r in self.rules],
            "rolled_back": [r.to_dict() for r in self.rolled_back],
            "verified": {"baseline": vdict(self.baseline), "after": vdict(self.verified),
                         "runs": self.verification_runs,
                         "checked": bool(self.verified and self.verified.checked),
                         "where": self.verified.where if self.verified else "",
                         "reason": (self.verified.reason if self.verified else "verification was turned off")},
            "compiled": self.compiled.to_dict() if self.compiled else {"compiled": False, "reason": "not requested"},
            "user_rules": self.plan.user,
            "kept_by": self.plan.kept,
            "notes": self.notes,
        }


def write_record(root: Path, result: SlimResult) -> Path:
    path = atomic_write(Path(root) / RECORD_DIR / "slim.json",
                        json.dumps(result.record(), indent=1, sort_keys=False) + "\n", role="slim record", durable=False)
    refresh_owner_record(root)
    return path


# -- rollback search ------------------------------------------------------------

def find_culprits(units: Sequence, fails: Callable[[list], bool], base: Sequence = ()) -> list:
    """The units that make ``fails`` true, by binary splitting.

    Precondition: ``fails(base + units)`` is true and ``fails(base)`` false.
    ``fails(applied)`` is asked with the units (and ``base``) applied.
    """
    units, base = list(units), list(base)
    if len(units) <= 1:
        return units
    mid = len(units) // 2
    first, second = units[:mid], units[mid:]
    bad = find_culprits(first, fails, base) if fails(base + first) else []
    good_first = [u for u in first if u not in bad]
    if fails(base + good_first + second):
        bad += find_culprits(second, fails, base + good_first)
    return bad


def _actions_for(plan: SlimPlan) -> dict[str, list[Action]]:
    out: dict[str, list[Action]] = {}
    for entry in plan.rules:
        kind = "strip-debug" if entry.kind == "strip-debug" else "delete"
        out[entry.name] = [Action(entry.name, p, kind) for p in entry.files]
    return out


def slim(root: Path, profile, *, rules: RuleSet | None = None, verify: bool = True, dry_run: bool = False,
         python: str | None = None, compile: bool = False, drop_sources: bool = False,
         invalidation_mode: str = "checked-hash", verifier=None, write: bool = True) -> SlimResult:
    """Plan, apply, verify (rolling back what breaks an import), optionally
    compile, and write ``.fcslim/slim.json``.

    ``verifier`` (a :class:`fcslim.verify.imports.Verifier`) overrides where imports are
    checked; by default :func:`fcslim.verify.imports.make_verifier` picks it.  Raises
    :class:`VerifyError` only if imports that worked before still fail after
    every rollback (the tree is then fully restored).
    """
    root = Path(root).resolve()
    plan = plan_slim(root, profile, rules)
    if not dry_run:
        check_slim_target(root)
    if dry_run:
        return SlimResult(plan, False, plan.before_bytes, plan.before_bytes - plan.bytes, rules=plan.rules)

    result = SlimResult(plan, True, plan.before_bytes, plan.before_bytes)
    tree = _Tree(root, getattr(profile, "arch", None))
    if tree.backup.exists():
        restored = tree.recover()
        if restored:
            result.notes.append(f"restored {len(restored)} files an interrupted earlier slim had set aside")
            plan = plan_slim(root, profile, rules)
            result.plan, result.before_bytes = plan, plan.before_bytes
    actions = _actions_for(plan)
    all_actions = [a for acts in actions.values() for a in acts]

    if verify and verifier is None:
        verifier = verify_mod.make_verifier(profile, python)
    elif not verify:
        verifier = None
    if isinstance(verifier, verify_mod.NoVerifier):
        result.notes.append(f"not verified: {verifier.reason}")
        result.baseline = verify_mod.VerifyResult(False, reason=f"not verified: {verifier.reason}")
        result.verified = result.baseline
        verifier = None

    modules = verify_mod.top_level_modules(root)
    removed_modules = _modules_of_removed_distributions(plan, read_distributions(root))
    modules_after = [m for m in modules if m not in removed_modules]

    try:
        if verifier is not None:
            result.baseline = verifier.check(root, modules)
            result.verification_runs += 1
        tree.set_applied(all_actions)
        if verifier is not None:
            _verify_and_roll_back(root, tree, verifier, result, actions, modules_after)
        for path, problem in sorted(tree.strip_failures.items()):
            result.notes.append(f"not stripped {path}: {problem}")
    except BaseException:
        tree.set_applied([])
        tree.discard_backup()
        raise

    # What was actually done, rule by rule.
    applied_paths = {a.path for a in tree.applied}
    sizes = {}
    for entry in plan.rules:
        done = PlannedRule(entry.name, entry.why, entry.kind, notes=list(entry.notes),
                           distributions=list(entry.distributions))
        done.files = [p for p in entry.files if p in applied_paths]
        if entry.kind == "strip-debug":
            for p in done.files:
                orig = tree.backup / "original" / p
                done.bytes += orig.stat().st_size - (root / p).stat().st_size
        else:
            if not sizes:
                sizes = {p: s for p, s in _sizes_in_backup(tree).items()}
            done.bytes = sum(sizes.get(p, 0) for p in done.files)
        result.rules.append(done)
    tree.discard_backup()

    if compile:
        _compile_step(root, profile, python, drop_sources, invalidation_mode, verifier, modules_after, result)

    result.after_bytes = tree_bytes(root)
    if write:
        write_record(root, result)
    return result


def _sizes_in_backup(tree: _Tree) -> dict[str, int]:
    removed = tree.backup / "removed"
    return {p: s for p, s in tree_files(removed).items()} if removed.exists() else {}


def _modules_of_removed_distributions(plan: SlimPlan, dists: Sequence[Distribution]) -> set[str]:
    removed = set()
    for entry in plan.rules:
        if entry.kind != "delete-distribution":
            continue
        names = {d.split(" ")[0] for d in entry.distributions}
        for dist in dists:
            if dist.name in names:
                removed |= dist.top_level()
    return removed


def _verify_and_roll_back(root: Path, tree: _Tree, verifier, result: SlimResult,
                          actions: dict[str, list[Action]], modules: list[str]) -> None:
    baseline_ok = set(result.baseline.passed) if result.baseline else set()
    checked_modules = [m for m in modules if m in baseline_ok]

    def check(names: Sequence[str]) -> verify_mod.VerifyResult:
        result.verification_runs += 1
        return verifier.check(root, names)

    after = check(checked_modules)
    broken = after.failed
    rounds = 0
    kept_back: dict[str, set[Action]] = {}
    while broken and rounds < 3:
        rounds += 1
        errors = {m: (after.modules[m].error or "") for m in broken}
        applied_now = set(tree.applied)
        rule_names = [name for name, acts in actions.items() if any(a in applied_now for a in acts)]

        def fails(applied: list) -> bool:
            tree.set_applied(applied)
            return bool(check(broken).failed)

        # 1. Which rules?  Units are rule names; applying a unit applies its
        #    currently applied actions.
        def rule_actions(names: Iterable[str]) -> list[Action]:
            return [a for n in names for a in actions[n] if a in applied_now]

        bad_rules = find_culprits(rule_names, lambda names: fails(rule_actions(names)))
        good = rule_actions([n for n in rule_names if n not in bad_rules])
        # 2. Which files inside each bad rule?
        for name in bad_rules:
            units = [a for a in actions[name] if a in applied_now]
            bad_files = find_culprits(units, lambda acts: fails(list(acts)), good)
            kept_back.setdefault(name, set()).update(bad_files)
            good += [a for a in units if a not in bad_files]
        tree.set_applied(good)
        for name in bad_rules:
            files = sorted(a.path for a in kept_back[name])
            size = sum((root / p).stat().st_size for p in files if (root / p).exists())
            result.rolled_back.append(RolledBack(name, files, size, list(broken), errors))
        after = check(checked_modules)
        broken = after.failed
    if broken:
        tree.set_applied([])
        result.verified = check(modules)
        raise VerifyError(
            f"Slimming broke the import of {', '.join(broken)} and rolling back rule by rule and "
            "file by file did not repair it; the bundle was restored unslimmed.",
            "Report this with .fcslim/slim.json; meanwhile run `fcslim slim` with --keep globs for "
            "those packages or with --no-slim.",
        )
    # The final word covers every module, not only those that broke.
    result.verified = check(modules) if checked_modules != modules else after
    if not result.verified.checked:
        return


def _compile_step(root, profile, python, drop_sources, mode, verifier, modules, result: SlimResult) -> None:
    backup = root / BACKUP_DIR / "sources"
    compiled = compile_bytecode(root, profile, python=python, drop_sources=drop_sources,
                                invalidation_mode=mode, backup_dir=backup if drop_sources else None)
    result.compiled = compiled
    if not compiled.compiled:
        result.notes.append(f"not compiled: {compiled.reason}")
        return
    if drop_sources and verifier is not None and result.verified is not None and result.verified.checked:
        before_ok = set(result.verified.passed)
        result.verification_runs += 1
        check = verifier.check(root, modules)
        broken = [m for m in check.failed if m in before_ok]
        if broken:
            # Put every source back and compile into __pycache__ instead.
            for rel in tree_files(backup):
                src = root / rel
                src.parent.mkdir(parents=True, exist_ok=True)
                move(backup / rel, src)
                legacy = src.with_suffix(".pyc")
                if legacy.exists():
                    legacy.unlink()
            result.notes.append(f"dropping sources broke {', '.join(broken)}; sources restored, "
                                "pycs written to __pycache__ instead")
            result.compiled = compile_bytecode(root, profile, python=python, drop_sources=False,
                                               invalidation_mode=mode)
        else:
            result.verified = check
    shutil.rmtree(root / BACKUP_DIR, ignore_errors=True)
