"""The model of a parsed requirement file: its lines (with where each came
from), its index options, and the forms the resolver reads back
(:meth:`RequirementsFile.write_normalised`, :meth:`RequirementsFile.to_text`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class RequirementLine:
    """One requirement, with where it came from."""

    requirement: Requirement
    hashes: tuple[str, ...]
    source: Path
    line: int
    text: str

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def applies_to(self, environment: dict[str, str]) -> bool:
        """Whether its marker holds in ``environment`` (a target's marker values)."""
        marker = self.requirement.marker
        return marker is None or marker.evaluate(dict(environment, extra=""))

    def is_pinned(self) -> bool:
        specs = list(self.requirement.specifier)
        return len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version

    def normalised(self) -> str:
        """The line as the resolver gets it: requirement, then its hashes."""
        parts = [str(self.requirement)]
        parts.extend(f"--hash={h}" for h in self.hashes)
        return " \\\n    ".join(parts)


@dataclass
class RequirementsFile:
    """Everything read from a requirement file and the files it includes."""

    path: Path
    requirements: list[RequirementLine] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    require_hashes: bool = False
    no_binary: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    header: list[str] = field(default_factory=list)

    @property
    def hashed(self) -> bool:
        """True for a lock: any hash makes pip (and fcslim) require them all."""
        return self.require_hashes or any(r.hashes for r in self.requirements)

    def locate_all(self, name: str) -> list[RequirementLine]:
        """Every line that names distribution ``name``."""
        wanted = canonicalize_name(name)
        return [line for line in self.requirements + self.constraints if line.name == wanted]

    def locate(self, name: str) -> RequirementLine | None:
        """The first line that names distribution ``name``."""
        wanted = canonicalize_name(name)
        for line in self.requirements + self.constraints:
            if line.name == wanted:
                return line
        return None

    def names(self) -> list[str]:
        return [r.name for r in self.requirements]

    def sha256(self) -> str:
        """Digest over every file read, in reading order."""
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def write_normalised(self, directory: Path) -> tuple[Path, Path | None]:
        """Write requirements (and constraints, if any) for the resolver;
        returns their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        req_path = directory / "requirements.txt"
        req_path.write_text("".join(f"{r.normalised()}\n" for r in self.requirements))
        con_path = None
        if self.constraints:
            con_path = directory / "constraints.txt"
            con_path.write_text("".join(f"{r.normalised()}\n" for r in self.constraints))
        return req_path, con_path

    def to_text(self, constraints_name: str = "constraints.txt", requirements: bool = True) -> str:
        """A self-contained requirement file of everything read (options,
        then requirements; constraints by reference to ``constraints_name``,
        which :meth:`write_normalised` writes), with every path absolute."""
        out = []
        if self.no_index:
            out.append("--no-index")
        if self.index_url:
            out.append(f"--index-url {self.index_url}")
        out += [f"--extra-index-url {url}" for url in self.extra_index_urls]
        out += [f"--find-links {link}" for link in self.find_links]
        if self.pre:
            out.append("--pre")
        if self.require_hashes:
            out.append("--require-hashes")
        if self.no_binary:
            out.append(f"--no-binary {','.join(self.no_binary)}")
        if self.constraints:
            out.append(f"-c {constraints_name}")
        if requirements:
            out += [r.normalised() for r in self.requirements]
        return "".join(f"{line}\n" for line in out)
