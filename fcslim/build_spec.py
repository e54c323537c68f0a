"""What one build is asked to do (:class:`BuildOptions`) and what it gives
back (:class:`BuildResult`): the plain data between the CLI, the pipeline and
the bundle-cache key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fcslim.debian.signatures import Trust
from fcslim.resolve.options import InstallOptions
from fcslim.slim.rules import UserRules
from fcslim.target.profile import Profile

if TYPE_CHECKING:  # the stages' result types; the stages themselves are imported when they run
    from fcslim.resolve.inputs import InputSpec
    from fcslim.resolve.install import InstallResult
    from fcslim.resolve.lock import LockResult
    from fcslim.fetch.record import FetchResult
    from fcslim.pack.archive import PackResult
    from fcslim.pack.plan import PackPlan
    from fcslim.report.lighter import Advice
    from fcslim.report.model import SizeReport
    from fcslim.slim.prune import SmokeOutcome
    from fcslim.slim.result import SlimResult
    from fcslim.verify.imports import VerifyResult


@dataclass(frozen=True)
class BuildOptions:
    """Everything one ``fcslim resolve`` run needs.

    ``lock`` names a lock file: REQUIREMENTS is pinned for the target into it
    (unless it already holds a lock of the same input for the same target) and
    the bundle is installed from it with hashes checked.
    """

    requirements: Path | InputSpec  # a path is recognised by its name (see resolve.inputs.open_input)
    profile: Profile
    output: Path
    install: InstallOptions = field(default_factory=InstallOptions)
    lock: Path | None = None
    fetch: bool = True
    patch_runpath: bool = False
    debian_mirror: str | None = None
    debian_trust: Trust = field(default_factory=Trust)  # keyrings, --allow-unsigned
    slim: bool = True
    verify: bool = True
    compile: bool = False
    drop_sources: bool = False
    invalidation_mode: str = "checked-hash"
    user_rules: UserRules = field(default_factory=UserRules)
    skip_rules: tuple[str, ...] = ()
    python: str | None = None
    pack_layout: str | None = None
    pack_output: Path | None = None
    upload: str | None = None  # split: s3:// or oss:// prefix for the dependency zip (fcslim.pack.upload)
    max_zip: int | str | None = None
    max_unzipped: int | str | None = None
    via: str = "api"
    disk: int | str | None = None  # the function's /tmp size (default: the profile's)
    smoke: Path | None = None  # the user's script, run traced on the target after slimming
    prune_untraced: bool = False  # remove distributions the smoke never touched
    prune_files: bool = False  # ... and untouched files of the others
    handler: str | None = None  # the function's own handler, wired through the split loader
    gate: bool = True
    cache: bool = True
    allow_import_failures: tuple[str, ...] = ()  # modules or distributions that may fail to import
    system_packages: tuple[str, ...] = ()  # Debian packages whose programs go into bin/
    auto_system_packages: bool = True  # programs that installed wrappers (pydub, pdf2image...) run
    strict_optional: bool = False  # a library only extension modules need is fatal when missing
    add_wheels_for_missing: bool = False  # install the PyPI wheels that ship missing libraries
    verify_image: bool = False  # check imports in the runtime's public container image

    @property
    def measured_layout(self) -> str:
        """The zip whose exact size the build's report gives ("code" or "layer")."""
        return "layer" if self.pack_layout == "layer" else "code"


@dataclass
class BuildResult:
    output: Path
    profile: Profile
    install: InstallResult | None  # None when the bundle came from the bundle cache
    distributions: list = field(default_factory=list)
    lock: LockResult | None = None
    fetch: FetchResult | None = None
    slim: SlimResult | None = None
    verify: VerifyResult | None = None  # when verified without slimming
    report: SizeReport | None = None
    pack: PackResult | None = None
    plan: PackPlan | None = None  # for --pack auto
    smoke: SmokeOutcome | None = None  # for --smoke
    advice: list[Advice] = field(default_factory=list)  # lighter equivalents, GPU-only
    cached: bool = False
    cache_key: str | None = None
    warnings: list[str] = field(default_factory=list)
    records: dict[str, Path] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
