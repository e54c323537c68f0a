"""Install (and compile) requirements for a target runtime, not for the host.

The engine is uv (``uv pip install --target`` and ``uv pip compile``), driven
with the target's Python version and manylinux platform
(:mod:`fcslim.resolve.uv`): uv evaluates environment markers,
``Requires-Python`` and wheel tags for the target whatever the host is, and
does so faster than pip.  fcslim does not trust that blindly:

* the requirement file is parsed here first, so bad lines fail as ``file:line``;
* uv's failures are read and re-raised as fcslim errors, one paragraph each
  (:mod:`fcslim.resolve.failures`);
* after installing, every ``*.dist-info`` is checked against the profile
  (:mod:`fcslim.resolve.installed`).

Wheels only by default.  With ``allow_pure_sdist`` a distribution that has only
an sdist is built, after its sdist was checked for native sources
(:mod:`fcslim.resolve.sdist`), and the built wheel must be pure.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from packaging.utils import canonicalize_name

from fcslim.core.errors import InputError, ResolutionError
from fcslim.core.hashing import file_sha256
from fcslim.resolve.options import Sources
from fcslim.resolve.installed import InstalledDistribution, check_installed, read_installed
from fcslim.resolve.lockfile import LockedPin, check_lock_target, parse_pins
from fcslim.resolve.options import InstallOptions
from fcslim.resolve.requirements import RequirementsFile, parse_requirements
from fcslim.resolve.uv import (
    UvPlatform,
    UvRun,
    build_args,
    run_uv,
    target_args,
    uv_binary,
    uv_env,
    uv_platform,
    uv_version,
)
from fcslim.resolve.uv_messages import sdist_only_names
from fcslim.target.profile import Profile

if TYPE_CHECKING:
    from fcslim.resolve.glibc import ProjectFiles

# The glibc 2.24/2.26 installer (:mod:`fcslim.resolve.glibc`, with the index
# client) and the sdist checker are imported by the functions that use them:
# an install for any other target needs neither (start-up, python -X importtime).


@dataclass
class InstallResult:
    """What :func:`install` put into ``dest`` and how."""

    dest: Path
    profile: Profile
    distributions: list[InstalledDistribution]
    requirements_path: Path
    requirements_sha256: str
    requirements: list[str]
    hash_checked: bool
    lock_sha256: str | None
    built_from_sdist: list[str] = field(default_factory=list)
    engine: dict = field(default_factory=dict)
    seconds: float = 0.0

    def requirements_record(self) -> dict:
        return {
            "file": str(self.requirements_path),
            "sha256": self.requirements_sha256,
            "requirements": list(self.requirements),
            "hash_checked": self.hash_checked,
            "built_from_sdist": list(self.built_from_sdist),
            "engine": dict(self.engine),
        }


@dataclass(frozen=True)
class _Context:
    reqs: RequirementsFile
    profile: Profile
    sources: Sources
    options: InstallOptions
    uv: str
    platform: UvPlatform

    def fail(self, run: UvRun) -> None:
        """Raise uv's failure as an fcslim error in the user's context."""
        # Failures are read by modules a successful install never needs (the
        # index client for the diagnosis): imported only here (start-up).
        from fcslim.resolve.failures import FailureContext, raise_for_failure

        raise_for_failure(run, FailureContext(self.reqs, self.profile, self.sources, self.platform,
                                              self.options.timeout, self.options.allow_pure_sdist))


def sources_for(reqs: RequirementsFile, options: InstallOptions) -> Sources:
    """The indexes and find-links of the options and of the requirement file."""
    find_links = []
    for link in list(options.find_links) + reqs.find_links:
        if not re.match(r"^[a-z][a-z0-9+.-]*://", link):
            path = Path(link).expanduser().resolve()
            if not path.exists():
                raise InputError(f"Find-links location {link} does not exist.",
                                 "Pass an existing directory of wheels (or a URL) to --find-links.")
            link = str(path)
        find_links.append(link)
    return Sources(
        index_url=options.index_url or reqs.index_url,
        extra_index_urls=tuple(dict.fromkeys(list(options.extra_index_urls) + reqs.extra_index_urls)),
        find_links=tuple(dict.fromkeys(find_links)),
        no_index=options.no_index or reqs.no_index,
    )


def _context(reqs: RequirementsFile, profile: Profile, options: InstallOptions) -> _Context:
    uv = uv_binary(options.uv)
    return _Context(reqs, profile, sources_for(reqs, options), options, uv, uv_platform(profile, uv))


def _run_with_sdist_retries(build_argv: Callable[[set[str]], list[str]], ctx: _Context,
                            env: dict[str, str], started: Callable[[], None] | None) -> tuple[UvRun, set[str]]:
    """Run uv; with ``allow_pure_sdist``, let sdist-only distributions be built
    (after checking their sdists are pure) and try again."""
    no_binary = {canonicalize_name(n) for n in ctx.reqs.no_binary} if ctx.options.allow_pure_sdist else set()
    for _attempt in range(10):
        run = run_uv(build_argv(no_binary), env, started)
        started = None  # once, when the first install starts
        if run.returncode == 0:
            return run, no_binary
        sdist_only = [n for n in sdist_only_names(run.stderr) if n not in no_binary]
        if ctx.options.allow_pure_sdist and sdist_only:
            from fcslim.resolve.sdist import check_sdists_pure

            check_sdists_pure(sdist_only, ctx.sources, ctx.profile, ctx.options.timeout)
            no_binary.update(sdist_only)
            continue
        ctx.fail(run)
    raise ResolutionError("Too many distributions need building from sdists.",
                          "Pin versions that publish wheels for the target.")


def install(requirements: Path, profile: Profile, dest: Path, options: InstallOptions | None = None, *,
            uv_started: Callable[[], None] | None = None) -> InstallResult:
    """Install ``requirements`` for ``profile`` into the empty directory ``dest``.

    ``requirements`` may be a plain requirement file or a lock (every line with
    ``--hash``): a lock is installed with hashes checked and must have been made
    for a compatible target.  Raises an :class:`FcslimError` subclass on any
    failure; ``dest`` may then hold partial files (callers stage it).
    ``uv_started`` is called once uv installs (the caller's work meanwhile, in
    a thread of its own); not at all when nothing is to be installed.
    """
    options = options or InstallOptions()
    started = time.monotonic()
    reqs = parse_requirements(requirements)
    ctx = _context(reqs, profile, options)
    hashed = reqs.hashed if options.require_hashes is None else options.require_hashes
    if reqs.hashed:
        check_lock_target(reqs, profile)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    env = uv_env(options.cache_dir, options.timeout)
    built: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="fcslim-req-") as tmp:
        req_file, con_file = reqs.write_normalised(Path(tmp))

        def argv(no_binary: set[str]) -> list[str]:
            out = [ctx.uv, "pip", "install", "--target", str(dest), "-r", str(req_file),
                   *target_args(profile, ctx.platform), *build_args(no_binary), *ctx.sources.args(),
                   "--link-mode", options.link_mode, "--python", sys.executable]
            if con_file:
                out += ["-c", str(con_file)]
            if hashed:
                out.append("--require-hashes")
            if options.no_deps:
                out.append("--no-deps")
            if options.pre or reqs.pre:
                out += ["--prerelease", "allow"]
            return out

        if reqs.requirements and ctx.platform.above:
            built = _install_exact_files(ctx, env, Path(tmp), req_file, con_file, dest, hashed, uv_started)
        elif reqs.requirements:
            _run, built = _run_with_sdist_retries(argv, ctx, env, uv_started)
    for leftover in (".lock",):
        (dest / leftover).unlink(missing_ok=True)
    dists = read_installed(dest)
    built_names = sorted(n for n in built if any(canonicalize_name(d.name) == n for d in dists))
    check_installed(dists, profile, built_names)
    return InstallResult(
        dest=dest,
        profile=profile,
        distributions=dists,
        requirements_path=Path(requirements),
        requirements_sha256=reqs.sha256(),
        requirements=[str(r.requirement) for r in reqs.requirements],
        hash_checked=hashed,
        lock_sha256=file_sha256(Path(requirements)) if reqs.hashed else None,
        built_from_sdist=built_names,
        engine={"name": "uv", "version": uv_version(ctx.uv), "python_platform": ctx.platform.name,
                "python_version": profile.python_full_version},
        seconds=time.monotonic() - started,
    )


def _install_exact_files(ctx: _Context, env: dict[str, str], tmp: Path, req_file: Path, con_file: Path | None,
                         dest: Path, hashed: bool, started: Callable[[], None] | None = None) -> set[str]:
    """Install for a glibc uv cannot name (:mod:`fcslim.resolve.glibc`): pins
    the profile can load, each installed from the one file it would pick."""
    from fcslim.resolve.glibc import ProjectFiles, exact_file_requirements

    files = ProjectFiles(ctx.sources, ctx.options.timeout)
    environment = ctx.profile.marker_environment()
    lines = [r for r in ctx.reqs.requirements if r.applies_to(environment)]
    if ctx.reqs.hashed and all(r.is_pinned() for r in lines):
        pins = [LockedPin(r.name, next(iter(r.requirement.specifier)).version, r.hashes) for r in lines]
        built: set[str] = set()
        lock: str | None = str(ctx.reqs.path)
    else:
        text, built = _compile_for_target(ctx, env, tmp, req_file, con_file, hashes=False, files=files)
        pins, lock = parse_pins(text), None
    exact_text, all_hashed = exact_file_requirements(pins, built, ctx.profile, files, lock=lock)
    exact = tmp / "exact.txt"
    exact.write_text(exact_text)
    argv = [ctx.uv, "pip", "install", "--target", str(dest), "-r", str(exact), "--no-deps",
            *target_args(ctx.profile, ctx.platform), *build_args(built), *ctx.sources.args(),
            "--link-mode", ctx.options.link_mode, "--python", sys.executable]
    if hashed or all_hashed:
        argv.append("--require-hashes")
    run = run_uv(argv, env, started)
    if run.returncode != 0:
        ctx.fail(run)
    return built


def _compile(ctx: _Context, env: dict[str, str], tmp: Path, req_file: Path, con_file: Path | None,
             extra: dict[str, list[str]], *, hashes: bool) -> tuple[str, set[str]]:
    """One ``uv pip compile``: the pinned text and what was built from sdists."""
    from fcslim.resolve.glibc import constraint_lines

    out_file = tmp / "out.txt"
    extra_file = tmp / "target-constraints.txt"
    extra_file.write_text(constraint_lines(extra))

    def argv(no_binary: set[str]) -> list[str]:
        out = [ctx.uv, "pip", "compile", str(req_file), "-o", str(out_file), "--quiet",
               *target_args(ctx.profile, ctx.platform), *build_args(no_binary), *ctx.sources.args(),
               "--no-header", "--annotation-style", "split", "--python", sys.executable]
        if hashes:
            out.append("--generate-hashes")
        if con_file:
            out += ["-c", str(con_file)]
        if extra:
            out += ["-c", str(extra_file)]
        if ctx.options.pre or ctx.reqs.pre:
            out += ["--prerelease", "allow"]
        return out

    _run, built = _run_with_sdist_retries(argv, ctx, env, None)
    return out_file.read_text(), built


def _compile_for_target(ctx: _Context, env: dict[str, str], tmp: Path, req_file: Path, con_file: Path | None,
                        *, hashes: bool, files: ProjectFiles | None = None) -> tuple[str, set[str]]:
    """Compile; for a glibc uv cannot name, again without what the profile
    cannot load, until every pin can be loaded."""
    from fcslim.resolve.glibc import MAX_ROUNDS, ProjectFiles, constraint_lines, exclusions, merge_constraints

    extra: dict[str, list[str]] = {}
    for _round in range(MAX_ROUNDS):
        text, built = _compile(ctx, env, tmp, req_file, con_file, extra, hashes=hashes)
        if not ctx.platform.above:
            return text, built
        files = files or ProjectFiles(ctx.sources, ctx.options.timeout)
        more = exclusions(parse_pins(text), built, ctx.profile, files)
        if not more:
            return text, built
        extra = merge_constraints(extra, more)
    raise ResolutionError(
        f"Resolving for {ctx.profile.name} (glibc {ctx.profile.glibc_version}) kept choosing versions without a "
        f"wheel it can load, after {MAX_ROUNDS} rounds: {constraint_lines(extra).strip()}.",
        "Pin these distributions to versions with manylinux wheels for that glibc and run again.",
    )


def _pylock_of_pins(ctx: _Context, env: dict[str, str], tmp: Path, pinned: str) -> str:
    """The PEP 751 form of ``pinned`` (pip-tools text): exactly those versions
    (``--no-deps``: the pins are the whole closure), with uv's wheels and hashes."""
    pins = tmp / "pins.txt"
    pins.write_text("".join(f"{p.name}=={p.version}\n" for p in parse_pins(pinned)))
    out = tmp / "pylock.toml"
    argv = [ctx.uv, "pip", "compile", str(pins), "-o", str(out), "--quiet", "--no-deps", "--generate-hashes",
            *target_args(ctx.profile, ctx.platform), *build_args(set()), *ctx.sources.args(), "--python", sys.executable]
    if ctx.options.pre or ctx.reqs.pre:
        argv += ["--prerelease", "allow"]
    run = run_uv(argv, env)
    if run.returncode != 0:
        ctx.fail(run)
    return out.read_text()


def compile_requirements(requirements: Path, profile: Profile, options: InstallOptions | None = None,
                         fmt: str = "requirements.txt") -> str:
    """Pin ``requirements`` for ``profile`` with hashes: pip-tools format (no
    header), or PEP 751 with ``fmt="pylock.toml"`` (the same pins, with the
    wheels uv lists for the target; the reader picks the profile's)."""
    options = options or InstallOptions()
    reqs = parse_requirements(requirements)
    if reqs.hashed:
        raise InputError(
            f"{requirements} is already a lock (its lines carry --hash); locking it again would only copy it.",
            "Pass the loose requirements (requirements.in) to `fcslim lock`, or install the lock with `fcslim resolve`.",
        )
    ctx = _context(reqs, profile, options)
    env = uv_env(options.cache_dir, options.timeout)
    if not reqs.requirements:
        return 'lock-version = "1.0"\ncreated-by = "fcslim"\n' if fmt == "pylock.toml" else ""
    with tempfile.TemporaryDirectory(prefix="fcslim-lock-") as tmp:
        req_file, con_file = reqs.write_normalised(Path(tmp))
        text, _built = _compile_for_target(ctx, env, Path(tmp), req_file, con_file, hashes=True)
        text = _user_paths(text, Path(tmp).name, Path(requirements), profile)
        if fmt == "pylock.toml":
            text = _pylock_of_pins(ctx, env, Path(tmp), text)
    return text


def _user_paths(text: str, tmp_name: str, requirements: Path, profile: Profile) -> str:
    """uv's annotations name the temporary files it read (absolute, or relative
    to the working directory); name what the user knows instead."""
    here = r"\S*" + re.escape(tmp_name) + "/"
    text = re.sub(here + r"requirements\.txt", requirements.name, text)
    text = re.sub(here + r"constraints\.txt", "constraints", text)
    return re.sub(r"-c " + here + r"target-constraints\.txt",
                  f"fcslim (versions without a wheel glibc {profile.glibc_version} loads left out)", text)
