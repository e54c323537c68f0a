"""How a build installs: where packages come from and how strictly they are
taken (:class:`InstallOptions`, :class:`Sources`).  Plain data in a module of its own, so that
a warm rebuild, which installs nothing, does not import the installer and uv's
driver (:mod:`fcslim.resolve.install`, a tenth of a second of start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InstallOptions:
    """Where packages come from and how strictly they are taken.

    Index options here are added to those written in the requirement file;
    ``index_url`` here wins over the file's.  ``require_hashes`` None means
    "when the requirement file carries hashes" (a lock).  ``link_mode`` is
    uv's: "hardlink" (default) shares inodes with uv's cache (stages that edit
    files give them their own inode first); "copy" gives the bundle its own
    files.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    allow_pure_sdist: bool = False
    require_hashes: bool | None = None
    pre: bool = False
    cache_dir: Path | None = None
    link_mode: str = "hardlink"
    uv: str | None = None
    timeout: float = 15.0
    no_deps: bool = False  # install exactly the listed files (a uv.lock or pylock.toml): resolve nothing


DEFAULT_INDEX_URL = "https://pypi.org/simple"


@dataclass(frozen=True)
class Sources:
    """Where distributions come from: indexes and find-links locations."""

    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    no_index: bool

    def args(self) -> list[str]:
        """The same sources as uv options."""
        out: list[str] = []
        if self.no_index:
            out.append("--no-index")
        elif self.index_url:
            out += ["--index-url", self.index_url]
        if not self.no_index:
            for url in self.extra_index_urls:
                out += ["--extra-index-url", url]
        for link in self.find_links:
            out += ["--find-links", link]
        return out

    def indexes(self) -> list[str]:
        if self.no_index:
            return []
        return [self.index_url or DEFAULT_INDEX_URL, *self.extra_index_urls]

    def describe(self) -> str:
        places = self.indexes() + list(self.find_links)
        return ", ".join(places) if places else "no index"
