"""The slim-and-verify part of a build (:func:`fcslim.pipeline.build`): the
import check's set-up started while uv installs, slimming with the check (the
bundle deflated for the report while the check runs), and the gate on
requested modules that fail to import.

Stage modules are imported where they run, as in the pipeline: a build with
``--no-slim``/``--no-verify`` pays for none of them.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from fcslim.build_spec import BuildOptions, BuildResult
from fcslim.cache.codeid import own_code_digest
from fcslim.core.files import remove_tree_soon
from fcslim.resolve.requirements import parse_requirements
from fcslim.target.profile import Profile

if TYPE_CHECKING:
    from fcslim.verify.early import PendingVerifier


def import_later_stages(options: BuildOptions) -> Callable[[], None]:
    """Import, in a thread, the modules the stages after the install will
    load (the ELF walk and fetch, slimming, measuring, the advice after it),
    and work out fcslim's own code digest (part of every remembered result's
    key), while uv installs and this process only waits on it; the returned
    function waits for the thread.  Call it once uv runs (``install``'s
    ``started``): before, the thread would share the interpreter with the
    work that starts uv.  A module that fails to import here fails again,
    with its error, where its stage imports it."""
    if options.fetch:
        names = ["fcslim.fetch.closure"]
    else:  # the load check of the install; the analysis itself on a miss
        names = ["fcslim.elf.loadcheck", "fcslim.elf.graph"]
    if options.slim:
        names += ["fcslim.slim.apply", "fcslim.slim.rules"]
    names += ["fcslim.report.measure", "fcslim.report.sizing", "fcslim.report.lighter", "fcslim.pack.stage"]
    if options.cache:  # stored after the build (its key is worked out before uv without it)
        names.append("fcslim.cache.bundles")
    # Also for the install stage alone (no fetch, no slim), whose load check
    # and measurement an unchanged install finds remembered (elf/loadcheck.py,
    # report/memo.py): importing networkx ahead cost a warm install stage a
    # quarter of its CPU (0.46 -> 0.36 s on the data set); without it these
    # modules are about 0.03 s of CPU, spent while uv runs.

    def work() -> None:
        try:
            own_code_digest()
            for name in names:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001  (reported by the stage that needs it)
            return

    context = contextvars.copy_context()  # the run's cache and inputs, as in the caller
    worker = threading.Thread(target=context.run, args=(work,), name="fcslim-import-stages")
    worker.start()
    return worker.join


def start_verifier(profile: Profile, options: BuildOptions) -> PendingVerifier | None:
    """Where the import check will run, worked out while the install runs
    (:mod:`fcslim.verify.early`); None when no check or a container image."""
    if not options.verify or options.verify_image:
        return None
    from fcslim.verify.early import PendingVerifier  # noqa: F811  (imported where it runs, as stages are)

    return PendingVerifier(profile, options.python).start()


def slim_stage(staging: Path, profile: Profile, options: BuildOptions, result: BuildResult, stages,
               pending: PendingVerifier | None = None) -> Callable[[], None] | None:
    """``--slim`` (with its import check and repair) or the import check
    alone, and ``--compile``; ``stages`` times each (the pipeline's).

    Slim's backup is set aside beside ``staging`` (in the pipeline's staging
    directory, which is removed with everything in it) and deleted in a
    thread while the build goes on: the returned function waits for that."""
    verifier = None
    if options.verify and options.verify_image:
        from fcslim.verify.image import image_verifier

        verifier = image_verifier(profile)  # exit 8 with the reason when no container engine answers

    def checker():  # inside the stage: waiting for the set-up (or making it) is the stage's time
        return pending.get() if verifier is None and pending is not None else verifier

    if options.slim:
        from fcslim.report.measure import measure_ahead
        from fcslim.slim.apply import slim  # slim's modules only when slimming (--no-slim start-up)
        from fcslim.slim.rules import ruleset_for

        rules = ruleset_for(options.user_rules, options.skip_rules)
        aside = staging.with_name(f"{staging.name}.slim-backup")
        outcome = stages.run("slim and verify imports", lambda: slim(
            staging, profile, rules=rules, verify=options.verify, python=options.python, compile=options.compile,
            drop_sources=options.drop_sources, invalidation_mode=options.invalidation_mode, verifier=checker(),
            alongside=functools.partial(measure_ahead, staging, options.measured_layout), set_aside=aside))
        result.slim = outcome
        result.warnings.extend(getattr(outcome, "notes", []) or [])
        return remove_tree_soon(aside) if os.path.lexists(aside) else None
    if options.verify:
        from fcslim.verify.imports import verify_imports

        if options.verify_image:
            from fcslim.verify.imports import top_level_modules

            checked = stages.run("verify imports", verifier.check, staging, top_level_modules(staging))
        else:
            checked = stages.run("verify imports", lambda: verify_imports(staging, profile, python=options.python,
                                                                         verifier=checker()))
        result.verify = checked
        if not checked.checked:
            result.warnings.append(f"imports not verified: {checked.reason}")
        elif checked.failed:
            result.warnings.append(
                f"{len(checked.failed)} top-level modules fail to import on {profile.name} "
                f"({checked.where}): {', '.join(checked.failed[:8])}")
    if options.compile:
        from fcslim.verify.bytecode import compile_bytecode

        stages.run("compile bytecode", compile_bytecode, staging, profile, python=options.python,
                   drop_sources=options.drop_sources, invalidation_mode=options.invalidation_mode)
    return None


def import_gate(result: BuildResult, profile: Profile, options: BuildOptions) -> None:
    """A module of a requested distribution that fails to import on the
    target (before or after slimming) fails the build (exit 8) unless allowed;
    other failures are warnings (:mod:`fcslim.verify.import_gate`)."""
    checks = [c for c in (getattr(result.slim, "baseline", None), getattr(result.slim, "verified", None),
                          result.verify) if c is not None and c.checked]
    failures: dict[str, str] = {}
    for check in checks:
        for name in check.failed:
            failures.setdefault(name, check.modules[name].error or "import failed")
    if not failures or result.install is None:
        return
    # Only when an import failed: the gate reads the index (start-up of every other build).
    from fcslim.resolve.install import sources_for
    from fcslim.verify.import_gate import gate_imports, module_owners, requested_names

    owners = module_owners((d.name, d.version, d.files) for d in result.install.distributions)
    try:
        sources = sources_for(parse_requirements(result.install.requirements_path), options.install)
    except Exception:  # only for the hint about newer sdists: never mask the import failure itself
        sources = None
    result.warnings.extend(gate_imports(
        failures, owners, requested_names(result.install.requirements), options.allow_import_failures,
        profile.name, checks[-1].where, sources))
