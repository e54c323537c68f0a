"""Slimming a bundle: plan the rules, apply them with a backup, prove the
imports, roll back what broke one, optionally compile, record.

The parts, one job each: :mod:`fcslim.slim.rules` (rules as data, user globs),
:mod:`fcslim.slim.plan` (what each rule would do; pure), :mod:`fcslim.slim.backup`
(applying any set of actions, reversibly), :mod:`fcslim.slim.rollback` (one
import check when it passes; the unslimmed check and the repair only on a
failure), :mod:`fcslim.slim.strip` (debug sections), :mod:`fcslim.slim.tree`
(files and distributions) and :mod:`fcslim.slim.result` (``.fcslim/slim.json``).
Only after the checks is the backup deleted and the record written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Sequence

from fcslim.core.files import move
from fcslim.core.output import check_slim_target
from fcslim.slim.backup import BACKUP_DIR, Action, Tree
from fcslim.slim.plan import PlannedRule, SlimPlan, plan_slim
from fcslim.slim.result import SlimResult, write_record
from fcslim.slim.rollback import verify_and_roll_back
from fcslim.slim.rules import RuleSet
from fcslim.slim.tree import Distribution, read_distributions, tree_bytes, tree_files
from fcslim.verify import imports as verify_mod
from fcslim.verify.bytecode import compile_bytecode


def _actions_for(plan: SlimPlan) -> dict[str, list[Action]]:
    out: dict[str, list[Action]] = {}
    for entry in plan.rules:
        kind = "strip-debug" if entry.kind == "strip-debug" else "delete"
        out[entry.name] = [Action(entry.name, p, kind) for p in entry.files]
    return out


def slim(root: Path, profile, *, rules: RuleSet | None = None, verify: bool = True, dry_run: bool = False,
         python: str | None = None, compile: bool = False, drop_sources: bool = False,
         invalidation_mode: str = "checked-hash", verifier=None, write: bool = True,
         alongside: Callable[[], None] | None = None, set_aside: Path | None = None) -> SlimResult:
    """Plan, apply, verify (rolling back what breaks an import), optionally
    compile, and write ``.fcslim/slim.json``.

    ``verifier`` (a :class:`fcslim.verify.imports.Verifier`) overrides where imports are
    checked; by default :func:`fcslim.verify.imports.make_verifier` picks it.  Raises
    :class:`VerifyError` only if imports that worked before still fail after
    every rollback (the tree is then fully restored).  The unslimmed tree is
    checked only to explain a failure (:mod:`fcslim.slim.rollback`).
    ``alongside`` runs while the first import check does (it must only read
    the tree); without a check it is not called.  With ``set_aside`` (a new
    path outside the bundle, on its file system) the backup is moved there
    once the checks are done, for the caller to delete, instead of deleted.
    """
    root = Path(root).resolve()
    plan = plan_slim(root, profile, rules)
    if not dry_run:
        check_slim_target(root)
    if dry_run:
        return SlimResult(plan, False, plan.before_bytes, plan.before_bytes - plan.bytes, rules=plan.rules)

    result = SlimResult(plan, True, plan.before_bytes, plan.before_bytes)
    tree = Tree(root)
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
        tree.set_applied(all_actions)
        if verifier is not None:
            verify_and_roll_back(root, tree, verifier, result, actions, modules_after, alongside)
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
    if set_aside is not None and tree.backup.exists():
        move(tree.backup, set_aside, role="slim backup")
    tree.discard_backup()

    if compile:
        _compile_step(root, profile, python, drop_sources, invalidation_mode, verifier, modules_after, result)

    result.after_bytes = tree_bytes(root)
    if write:
        write_record(root, result)
    return result


def _sizes_in_backup(tree: Tree) -> dict[str, int]:
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
