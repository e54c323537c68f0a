"""Import checks after slimming, and taking back exactly what broke an import.

One check runs when the slimmed tree imports: every top-level module, once.
Only when some module fails does the unslimmed tree get checked, for those
modules alone, to tell what slimming broke from what never worked.  What broke
is repaired in two steps:

1. **Guided**: the unslimmed check of the failing modules is traced (every
   bundle file their imports open, through an audit hook in the check
   process), and the removed files among them are put back at once; so are
   the files the errors name (:func:`guess_culprits`: ``No module named
   'a.b.c'``, ``cannot import name 'c' from 'a.b'``, quoted paths, library
   names).  Then the broken modules are checked again, a few rounds at most.
   On TensorFlow this replaces dozens of bisection runs (each one an import of
   tensorflow) with one or two.
2. **Bisection** (:func:`find_culprits`) for whatever is still broken: first the
   rules at fault, then the files inside each.
"""

from __future__ import annotations

import contextvars
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence

from fcslim.core.errors import VerifyError
from fcslim.slim.backup import Action, Tree
from fcslim.slim.result import RolledBack, SlimResult
from fcslim.verify import imports as verify_mod

_GUIDED_ROUNDS = 10
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")
_MISSING_NAME = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")
_QUOTED = re.compile(r"['\"]([^'\"\s]+)['\"]")
_LIBRARY = re.compile(r"([\w.+-]+\.so(?:\.[\d.]+)?)")


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


def _module_paths(name: str, deletes: Iterable[Action]) -> set[Action]:
    """The removed files of module ``name``: its own file, else its package's
    ``__init__.py`` (the next check names the submodule still missing), else
    the whole package (a namespace package has no ``__init__.py``)."""
    base = name.replace(".", "/")
    deletes = list(deletes)
    own = {a for a in deletes
           if a.path == base + ".py" or (a.path.startswith(base + ".") and a.path.endswith((".so", ".pyd")))}
    if own:
        return own
    init = {a for a in deletes if a.path == base + "/__init__.py"}
    return init or {a for a in deletes if a.path.startswith(base + "/")}


def guess_culprits(errors: Iterable[str], applied: Iterable[Action]) -> set[Action]:
    """Applied deletions an import error names: a missing module or name (its
    file, or its whole package), a quoted path ending in a removed file, a
    shared library by file name."""
    deletes = [a for a in applied if a.kind == "delete"]
    found: set[Action] = set()
    for text in errors:
        for name in _MISSING_MODULE.findall(text):
            found |= _module_paths(name, deletes)
        for attr, module in _MISSING_NAME.findall(text):
            found |= _module_paths(f"{module}.{attr}", deletes)
        for token in _QUOTED.findall(text):
            if "/" in token:
                found |= {a for a in deletes if token == a.path or token.endswith("/" + a.path)}
        libraries = set(_LIBRARY.findall(text))
        if libraries:
            found |= {a for a in deletes if a.path.rsplit("/", 1)[-1] in libraries}
    return found


def _keep(root: Path, result: SlimResult, kept: dict[str, set[Action]], modules: Sequence[str],
          errors: dict[str, str]) -> None:
    for rule in sorted(kept):
        files = sorted(a.path for a in kept[rule])
        size = sum((root / p).stat().st_size for p in files if (root / p).exists())
        result.rolled_back.append(RolledBack(rule, files, size, list(modules), errors))


def _check_alongside(check: Callable[[Sequence[str]], verify_mod.VerifyResult], modules: Sequence[str],
                     alongside: Callable[[], None] | None) -> verify_mod.VerifyResult:
    """``check(modules)`` here while ``alongside()`` runs in a thread: the
    check is another process this thread only waits for, so work that reads
    the slimmed tree without changing it (deflating it for the report) uses
    the other core meanwhile.  The check stays in this thread, so an
    interrupt stops it as before.  Both are done when this returns."""
    if alongside is None:
        return check(modules)
    context = contextvars.copy_context()  # the run's inputs and settings, as in this thread
    with ThreadPoolExecutor(1, thread_name_prefix="fcslim-alongside-check") as pool:
        beside = pool.submit(context.run, alongside)
        result = check(modules)
        beside.result()
    return result


def verify_and_roll_back(root: Path, tree: Tree, verifier, result: SlimResult,
                         actions: dict[str, list[Action]], modules: list[str],
                         alongside: Callable[[], None] | None = None) -> None:
    """Check ``modules`` in the slimmed tree; repair what slimming broke (see
    the module docstring).  Raises :class:`VerifyError`, with the tree
    unslimmed, when a module that imported before still fails.  ``alongside``
    runs during the first check and must only read the tree."""

    def check(names: Sequence[str]) -> verify_mod.VerifyResult:
        result.verification_runs += 1
        return verifier.check(root, names)

    after = _check_alongside(check, modules, alongside)
    result.verified = after
    if not after.checked or not after.failed:
        result.baseline = verify_mod.VerifyResult(
            False, reason="not needed: every module imported after slimming" if after.checked else after.reason)
        return
    applied = set(tree.applied)
    tree.set_applied([])
    # Only to tell what slimming broke from what never worked, and traced: the
    # files those imports open are the first ones to put back.
    result.verification_runs += 1
    result.baseline = verifier.check(root, after.failed, trace=True)
    tree.set_applied(applied)
    broken = [m for m in after.failed if m in result.baseline.passed]
    if not broken:
        return
    errors = {m: (after.modules[m].error or "") for m in broken}

    kept: dict[str, set[Action]] = {}
    touched = set(result.baseline.touched)
    for _ in range(_GUIDED_ROUNDS):
        guesses = guess_culprits([after.modules[m].error or "" for m in broken if m in after.modules],
                                 tree.applied)
        guesses |= {a for a in tree.applied if a.kind == "delete" and a.path in touched}
        if not guesses:
            break
        tree.set_applied(set(tree.applied) - guesses)
        for action in guesses:
            kept.setdefault(action.rule, set()).add(action)
        after = check(broken)
        broken = after.failed
        if not broken:
            break
    _keep(root, result, kept, list(errors), errors)

    rounds = 0
    while broken and rounds < 3:
        rounds += 1
        errors = {m: (after.modules[m].error or "") for m in broken}
        applied_now = set(tree.applied)
        rule_names = [name for name, acts in actions.items() if any(a in applied_now for a in acts)]

        def fails(applied: list) -> bool:
            tree.set_applied(applied)
            return bool(check(broken).failed)

        def rule_actions(names: Iterable[str]) -> list[Action]:
            return [a for n in names for a in actions[n] if a in applied_now]

        # 1. Which rules?  Units are rule names; applying a unit applies its
        #    currently applied actions.  2. Which files inside each bad rule?
        bad_rules = find_culprits(rule_names, lambda names: fails(rule_actions(names)))
        good = rule_actions([n for n in rule_names if n not in bad_rules])
        bisected: dict[str, set[Action]] = {}
        for name in bad_rules:
            units = [a for a in actions[name] if a in applied_now]
            bad_files = find_culprits(units, lambda acts: fails(list(acts)), good)
            bisected.setdefault(name, set()).update(bad_files)
            good += [a for a in units if a not in bad_files]
        tree.set_applied(good)
        _keep(root, result, bisected, broken, errors)
        after = check(broken)
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
    result.verified = check(modules)
