"""One build: requirements in, a proven bundle directory out, swapped in atomically.

:func:`build` runs the whole pipeline over a staging directory beside the output:

    check_output_dir → [lock] → bundle cache? ─ hit → restore ─────────────┐
                                  └ miss → install → fetch (ELF walk + Debian
                                           closure) → slim (+ verify, rollback,
                                           compile) → store in bundle cache ┤
    report (records .fcslim/report.json) ←──────────────────────────────────┘
    → swap into place → [pack] → size gate

If anything before the swap fails, the staging directory is removed and the
previous output is left exactly as it was; a ``--lock`` file is written only
after the bundle was swapped in.  A bundle over a size limit is still swapped
in (it is complete, and the report explains it) and then the gate fails with
exit 9.  Nothing else outside the output directory changes, except fcslim's and
uv's caches and the zip that ``pack_layout`` asks for.

Each stage's module is imported inside the function that runs it, for start-up
cost: the fetch stage ~0.04 s, the bundle cache ~0.01 s, the ELF walk and the
sizer ~0.01 s each (`python -X importtime`, after the pipeline), and a build with ``--no-fetch``/``--no-slim``, a
cache hit or a library caller of :func:`build` with stages off pays for none
of what it skips.  The options and result types live in
:mod:`fcslim.build_spec`, the bundle-cache key in :mod:`fcslim.build_key`.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from fcslim.core.errors import LoadError, SizeLimitError
from fcslim.resolve.inputs import REQUIREMENTS, InputSpec, materialise, named_for_user, open_input
from fcslim.core.records import INSTALL, RECORDS_DIR, write_record
from fcslim.core.inputs import in_run, note_input
from fcslim.core.output import check_output_dir, staged_directory
from fcslim.core.progress import reporter
from fcslim.core.treeid import tree_identity
from fcslim.resolve.requirements import parse_requirements
from fcslim.target.profile import Profile
from fcslim.build_key import PendingBundleKey, bundle_cache_key
from fcslim.build_spec import BuildOptions, BuildResult
from fcslim.build_verify import (import_gate as _import_gate, import_later_stages, slim_stage as _slim_stage,
                                 start_verifier)

if TYPE_CHECKING:
    from fcslim.resolve.install import InstallResult

SCHEMA = 1


def install_record(result: InstallResult) -> dict:
    """The JSON ``.fcslim/install.json`` holds (schema 1)."""
    return {
        "schema": SCHEMA,
        "profile": result.profile.to_dict(),
        "distributions": [d.to_dict() for d in result.distributions],
        "requirements": result.requirements_record(),
        "lock_sha256": result.lock_sha256,
    }


class _Stages:
    """Times each stage and shows it through the progress reporter."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        started = time.monotonic()
        with reporter().step(name):
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = round(time.monotonic() - started, 3)

    def attempt(self, name: str, fn, *args, **kwargs):
        """Run ``fn`` unannounced; only a truthy result (a hit) is shown and timed."""
        started = time.monotonic()
        outcome = fn(*args, **kwargs)
        if outcome:
            self.seconds[name] = round(time.monotonic() - started, 3)
            reporter().done(name, self.seconds[name])
        return outcome


def _fetch_stage(staging: Path, profile: Profile, options: BuildOptions, result: BuildResult, stages: _Stages,
                 identity: str | None = None):
    # Imported here, and each only where it is used: the fetch stage's
    # modules cost ~0.04 s to import (python -X importtime); the load check
    # without fetching is remembered by the tree's identity and imports the
    # ELF reader only when it analyses.
    if options.fetch:
        from fcslim.fetch.closure import fetch_missing

        fetch_args = dict(mirror=options.debian_mirror, patch_runpath=options.patch_runpath,
                          system_packages=options.system_packages, auto_system_packages=options.auto_system_packages,
                          strict_optional=options.strict_optional, trust=options.debian_trust)
        wheels = _wheels_for_missing(staging, profile, options) if options.add_wheels_for_missing else []
        if wheels:
            _add_wheels(staging, profile, options, wheels, result, stages)
        fetched = stages.run("fetch system libraries", fetch_missing, staging, profile, **fetch_args)
        result.fetch = fetched
        result.warnings.extend(fetched.warnings)
        unloadable = fetched.unloadable
    else:
        from fcslim.elf.loadcheck import load_findings

        report = stages.run("scan ELF files", load_findings, staging, profile, identity=identity)
        if report.missing:
            names = ", ".join(m.soname for m in report.missing[:8])
            result.warnings.append(
                f"{len(report.missing)} shared libraries are missing on {profile.name} ({names}); "
                "they were not fetched because of --no-fetch.")
        unloadable = report.unloadable
    if unloadable:
        lines = "; ".join(f"{getattr(p, 'path', p)}: {getattr(p, 'detail', '')}" for p in unloadable[:6])
        more = f" (and {len(unloadable) - 6} more)" if len(unloadable) > 6 else ""
        raise LoadError(
            f"{len(unloadable)} file(s) in the bundle can never load on {profile.name} "
            f"(glibc {profile.glibc_version}, {profile.arch}): {lines}{more}.",
            "Pin an older release of the distribution that ships them, or choose a runtime with a newer glibc; "
            "`fcslim scan DIR --runtime R` shows the details.",
        )


def _wheels_for_missing(staging: Path, profile: Profile, options: BuildOptions) -> list[str]:
    """PyPI distributions that ship sonames the bundle misses and Debian lacks
    (``data/library_wheels.json``), for --add-wheel-for-missing."""
    from fcslim.elf.graph import analyse
    from fcslim.fetch.optional import wheel_for

    report = analyse(staging, profile)
    return sorted({w for w in (wheel_for(m.soname) for m in report.missing) if w})


def _add_wheels(staging: Path, profile: Profile, options: BuildOptions, names: list[str], result: BuildResult,
                stages: _Stages) -> None:
    """Install ``names`` for the target beside the bundle and add the files the
    bundle does not have yet (never replacing one)."""
    import shutil

    from fcslim.resolve.install import install

    with tempfile.TemporaryDirectory(prefix="fcslim-wheels-") as tmp:
        extra_requirements = Path(tmp) / "missing-libraries.txt"
        extra_requirements.write_text("".join(f"{name}\n" for name in names))
        tree = Path(tmp) / "tree"
        added = stages.run("install wheels for missing libraries", install, extra_requirements, profile, tree,
                           options.install)
        for path in sorted(tree.rglob("*")):
            target = staging / path.relative_to(tree)
            if path.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    known = {d.name for d in result.install.distributions} if result.install else set()
    new = [d for d in added.distributions if d.name not in known]
    if result.install is not None:
        result.install.distributions.extend(new)
    result.warnings.append("Added for libraries the runtime's Debian release lacks (--add-wheel-for-missing): "
                           + ", ".join(f"{d.name} {d.version}" for d in new) + ".")


def default_pack_output(output: Path, layout: str) -> Path:
    """``build/`` → ``build.zip`` beside it (never inside the bundle)."""
    return output.with_name(output.name + ("" if layout in ("code", "auto") else f"-{layout}") + ".zip")


def note_build_inputs(spec: InputSpec, profile: Profile, options: BuildOptions) -> None:
    """Every file and directory this build reads: none may be written by it."""
    if spec.kind == REQUIREMENTS and spec.path is not None:
        parse_requirements(spec.path)  # notes the file and every -r/-c include
    for path in spec.protected:
        note_input(path)
    if profile.source not in ("built-in", ""):
        note_input(Path(profile.source))
    for location in options.install.find_links:
        if Path(location).exists():
            note_input(Path(location))
    note_input(options.smoke)
    for keyring in options.debian_trust.keyrings:
        note_input(Path(keyring).expanduser())


def _build_fresh(staging: Path, spec: InputSpec, given, install_from: Path, install_options, profile: Profile,
                 options: BuildOptions, result: BuildResult, stages: _Stages, later: ExitStack) -> str | None:
    """A bundle-cache miss: install, fetch, slim and verify into ``staging``
    (what is still being cleaned up in a thread is waited for by ``later``).
    Returns the tree's identity when no stage after the install changes the
    tree (the load check and the measurement then share one walk), else None."""
    from fcslim.resolve.install import install

    pending_verifier = start_verifier(profile, options)

    def while_uv_installs() -> None:
        later.callback(import_later_stages(options))

    with named_for_user(given):
        installed = stages.run("install", install, install_from, profile, staging, install_options,
                               uv_started=while_uv_installs)
    if options.lock:
        installed.requirements_path = Path(options.lock)
    elif install_from != spec.path:
        installed.requirements_path = spec.path or Path("<stdin>")
    result.install = installed
    write_record(staging, INSTALL, install_record(installed))
    if pending_verifier is not None:
        warming = pending_verifier.warm_early(staging)
        if warming is not None:
            later.callback(warming.stop_early)
    identity = None
    if not (options.fetch or options.slim or options.verify or options.compile or options.smoke):
        try:
            identity = tree_identity(staging)
        except OSError:
            pass  # each stage says what it cannot read
    _fetch_stage(staging, profile, options, result, stages, identity)
    removing = _slim_stage(staging, profile, options, result, stages, pending_verifier)
    if removing is not None:
        later.callback(removing)
    _import_gate(result, profile, options)
    if options.smoke:
        from fcslim.slim.prune import smoke_and_prune

        result.smoke = stages.run("smoke run, traced", smoke_and_prune, staging, profile, options.smoke,
                                  prune_untraced=options.prune_untraced,
                                  prune_files=options.prune_files, python=options.python)
    if result.warnings:
        write_record(staging, "warnings.json", {"schema": SCHEMA, "warnings": result.warnings})
    return identity


def _advise_pack_and_gate(result: BuildResult, profile: Profile, options: BuildOptions, pack_output: Path | None,
                          stages: _Stages, started: float) -> None:
    """After the swap: lighter equivalents, ``--pack``, and the size gate."""
    from fcslim.pack.stage import PackRequest, gate_bundle, pack_bundle
    from fcslim.report.lighter import advice_lines, lighter_advice
    from fcslim.resolve.options import Sources

    io = options.install
    result.advice = stages.run("lighter equivalents", lighter_advice, result.report, profile,
                               sources=Sources(io.index_url, io.extra_index_urls, io.find_links, io.no_index))
    request = PackRequest(options.pack_layout, pack_output if options.pack_layout else None, options.via,
                          options.max_zip, options.max_unzipped, options.disk, options.handler,
                          upload=options.upload)
    outcome = None
    try:
        if options.pack_layout:
            outcome = stages.run("pack", pack_bundle, result.output, result.report, profile, request,
                                 gate=options.gate, advice=advice_lines(result.advice))
            result.pack, result.plan = outcome.result, outcome.plan
        result.stage_seconds = stages.seconds
        result.seconds = time.monotonic() - started
        if options.gate:
            gate_bundle(result.report, profile, outcome, request)
    except SizeLimitError as exc:
        exc.result = result  # the bundle is in place; callers may still show the report
        raise


@in_run
def build(options: BuildOptions) -> BuildResult:
    """Build the bundle ``options`` describe into ``options.output``.  The
    output, lock and zips are checked before any work: each must be absent,
    fcslim's own, and none of the run's inputs."""
    started = time.monotonic()
    profile = options.profile
    if options.debian_mirror:  # checked before anything is installed
        from fcslim.debian.archive import check_mirror_url

        profile = profile.with_debian_mirror(check_mirror_url(options.debian_mirror))
    spec = options.requirements if isinstance(options.requirements, InputSpec) else open_input(options.requirements)
    note_build_inputs(spec, profile, options)
    output = check_output_dir(options.output)
    if options.lock:
        from fcslim.resolve.lockfile import check_lock_output

        check_lock_output(Path(options.lock))
    pack_output = None
    if options.pack_layout:
        from fcslim.pack.archive import check_pack_outputs

        pack_output = Path(options.pack_output or default_pack_output(output, options.pack_layout)).resolve()
        check_pack_outputs(output, pack_output, options.pack_layout)

    stages = _Stages()
    pending_lock_text: str | None = None
    result = BuildResult(output=output, profile=profile, install=None)
    with tempfile.TemporaryDirectory(prefix="fcslim-build-") as tmp:
        given = materialise(spec, profile, Path(tmp) / "input")
        result.warnings.extend(given.notes)
        install_options = replace(options.install, no_deps=True) if spec.exact else options.install
        install_from = given.path
        if options.lock:
            from fcslim.build_lock import lock_for_build

            result.lock, pending_lock_text, install_from, install_options = lock_for_build(
                options, spec, given, profile, Path(tmp), stages.run)

        with named_for_user(given):
            key = stages.run("bundle cache key", bundle_cache_key, options, profile, install_from) \
                if options.cache else None
        pending_key = None
        if isinstance(key, PendingBundleKey):  # nothing cached can match: keyed by what the install resolved
            pending_key, key = key, None
        result.cache_key = key
        with staged_directory(output) as staging, ExitStack() as later:
            identity = None
            # The bundle cache (its store and remote: 0.01-0.02 s to import) only
            # with a key: a build without one starts uv sooner.
            if key:
                from fcslim.cache.bundles import restore_bundle
            if key and stages.attempt("restored from the bundle cache", restore_bundle, key, staging):
                result.cached = True
                warned = staging / RECORDS_DIR / "warnings.json"
                if warned.exists():
                    result.warnings = json.loads(warned.read_text()).get("warnings", [])
            else:
                identity = _build_fresh(staging, spec, given, install_from, install_options, profile, options,
                                        result, stages, later)
                if pending_key is not None and result.install is not None:
                    key = result.cache_key = pending_key.complete(result.install.distributions)
            # Measured before the bundle is cached: the cache links the same
            # inodes, so a warm rebuild restored from it finds every file's
            # deflated stream by identity and compresses nothing.
            layout = options.measured_layout
            # A tree the bundle cache is about to take is remembered after it
            # took it (remember_report): its files' identities change.
            storing = bool(key) and not result.cached
            # The sizer (6-8 ms to import, python -X importtime) loads while uv installs (on a miss).
            from fcslim.report.measure import build_report, remember_report

            result.report = stages.run("measure", build_report, staging, profile, layout=layout, identity=identity,
                                       max_zip=options.max_zip, max_unzipped=options.max_unzipped, via=options.via,
                                       remember=not storing)
            write_record(staging, "report.json", result.report.to_dict())
            if storing:
                from fcslim.cache.bundles import store_bundle
                from fcslim.pack.deflate import known_digests

                stages.run("store in bundle cache", lambda: (
                    store_bundle(key, staging, known_digests=known_digests), remember_report(result.report)))
            if result.install is not None:
                result.distributions = result.install.distributions
            else:
                from fcslim.resolve.installed import read_installed

                result.distributions = read_installed(staging)
            for name in sorted(p.name for p in (staging / RECORDS_DIR).glob("*.json")):
                result.records[name.rsplit(".", 1)[0]] = output / RECORDS_DIR / name

        if pending_lock_text is not None and options.lock:
            from fcslim.resolve.lockfile import write_atomically

            write_atomically(Path(options.lock), pending_lock_text)

    result.report.root = output
    if result.install is not None:
        result.install.dest = output
    _advise_pack_and_gate(result, profile, options, pack_output, stages, started)
    return result
