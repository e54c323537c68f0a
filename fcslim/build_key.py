"""The bundle-cache key of a build: its input's pins, the profile, every
option that changes the bundle, and a digest of fcslim's own code and data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from fcslim.build_spec import BuildOptions
from fcslim.cache.codeid import own_code_digest
from fcslim.cache.keys import bundle_key, normalise_requirements
from fcslim.resolve.requirements import parse_requirements
from fcslim.target.profile import Profile

if TYPE_CHECKING:  # the installed-tree reader is not start-up of a warm rebuild
    from fcslim.resolve.installed import InstalledDistribution


def rules_digest() -> str:
    """The digest of this fcslim's code and data, part of every bundle key.

    Rules and tables are data, but the start-up hook and loader templates are
    code copied into bundles and any stage can change what it writes: so a
    bundle cached by another build of fcslim, even one with the same version
    number, is never restored."""
    return own_code_digest()


def _find_links_fingerprint(find_links) -> list:
    """Local find-links directories change without their paths changing."""
    out = []
    for location in find_links:
        path = Path(location)
        if path.is_dir():
            out.append([str(path), sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())])
        else:
            out.append(str(location))
    return out


@dataclass(frozen=True)
class PendingBundleKey:
    """The key of a bundle whose input this cache has never resolved: nothing
    cached can match it, so it is not looked up and the resolver is not run;
    the build's install says what the input resolved to (:meth:`complete`)."""

    requirements_text: str
    profile: dict[str, Any]
    stage_options: dict[str, Any]
    memo: str
    requirements: tuple[str, ...]

    def complete(self, installed: Iterable["InstalledDistribution"]) -> str:
        """The key, from the distributions the install put into the tree; the
        resolution is remembered as if the resolver had said it.  fcslim's
        own digest is taken here, not before uv starts (a build works it out
        while uv runs: build_verify.import_later_stages)."""
        from fcslim.resolve.memo import canonical_pins, remember_pins

        pins = canonical_pins((d.name, d.version) for d in installed)
        remember_pins(self.memo, pins, self.requirements)
        return bundle_key(self.requirements_text, pins, self.profile, self.stage_options, rules_digest())


def bundle_cache_key(options: BuildOptions, profile: Profile, install_from: Path) -> str | PendingBundleKey:
    """The key of the finished bundle these options build.

    A hashed lock pins every byte installed, so its text is the key; anything
    looser is keyed on the pins it resolves to (:func:`fcslim.resolve.memo.canonical_pins`),
    remembered by :mod:`fcslim.resolve.memo` so that an unchanged input is not
    resolved again (a new upstream release still changes the key once the memo
    lapses).  An input this cache never resolved, with no remote cache to ask,
    gives a :class:`PendingBundleKey`: a cold build does not pay for a resolver
    run that only a cache hit could use."""
    from fcslim.cache.remote_config import current_remote
    from fcslim.resolve.memo import (canonical_resolver_pins, memo_key, never_resolved, remember_pins,
                                     remembered_pins)

    reqs = parse_requirements(install_from)
    text = "".join(Path(f).read_text() for f in reqs.files)
    io = options.install
    stage_options = _stage_options(options)
    pins = None
    if not reqs.hashed:
        memo = memo_key(normalise_requirements(text), profile.to_dict(), io.index_url, list(io.extra_index_urls),
                        _find_links_fingerprint(io.find_links), io.no_index, io.pre, io.allow_pure_sdist)
        requirements = tuple(str(r.requirement) for r in reqs.requirements)
        pins = remembered_pins(memo)
        if pins is None and never_resolved(memo) and current_remote() is None:
            return PendingBundleKey(text, profile.to_dict(), stage_options, memo, requirements)
        if pins is None:
            # Imported only on a miss: the installer and uv's driver are a
            # tenth of a second of a warm rebuild's start-up.
            from fcslim.resolve.install import compile_requirements

            pins = canonical_resolver_pins(compile_requirements(install_from, profile, options.install))
            remember_pins(memo, pins, requirements)
    return bundle_key(text, pins, profile.to_dict(), stage_options, rules_digest())


def _stage_options(options: BuildOptions) -> dict[str, Any]:
    """Every option that changes the bundle, as the key sees it."""
    io = options.install
    if options.smoke:
        from fcslim.verify.smoke import code_digest  # only with --smoke (start-up of a warm rebuild)
    return {
        "index_url": io.index_url, "extra_index_urls": list(io.extra_index_urls),
        "find_links": _find_links_fingerprint(io.find_links), "no_index": io.no_index,
        "allow_pure_sdist": io.allow_pure_sdist, "pre": io.pre,
        "fetch": options.fetch, "patch_runpath": options.patch_runpath, "slim": options.slim,
        "debian_trust": options.debian_trust.key_parts() if options.fetch else None,
        "verify": options.verify, "compile": options.compile, "drop_sources": options.drop_sources,
        "invalidation_mode": options.invalidation_mode, "keep": list(options.user_rules.keep),
        "remove": list(options.user_rules.remove), "drop": list(options.user_rules.drop),
        "skip_rules": sorted(options.skip_rules),
        "allow_import_failures": sorted(options.allow_import_failures),
        "smoke": code_digest(options.smoke) if options.smoke else None,
        "prune": [options.prune_untraced, options.prune_files],
        "system_packages": sorted(options.system_packages), "auto_system_packages": options.auto_system_packages,
        "strict_optional": options.strict_optional, "add_wheels_for_missing": options.add_wheels_for_missing,
        "verify_image": options.verify_image,
    }
