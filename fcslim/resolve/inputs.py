"""What a user hands fcslim to build from, and how each form reaches the resolver.

``open_input`` recognises the form by name (and ``-`` for standard input):

* a requirements file (``requirements.txt``, ``*.in``, a pip-tools lock): used as it is;
* ``-``: requirements read from standard input (paths in it are relative to
  the current directory);
* ``pyproject.toml``: ``[project] dependencies`` plus ``--extra``/``--group``;
* ``uv.lock`` and ``pylock.toml`` (PEP 751): exact pins; the target's wheel of
  each package is installed with its hash checked and nothing else resolved.

``materialise`` turns any of them into one pip requirement file in a private
directory, which is what the resolver, the lock writer and the bundle cache
key read.  The same input always gives the same bytes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

from fcslim.core.errors import FcslimError, InputError
from fcslim.core.inputs import note_input
from fcslim.target.profile import Profile
from fcslim.resolve.names import is_pylock_name
from fcslim.resolve.requirements import parse_requirements

if TYPE_CHECKING:
    from fcslim.resolve.locked import LockedSet

REQUIREMENTS, STDIN, PYPROJECT, UV_LOCK, PYLOCK = "requirements", "stdin", "pyproject.toml", "uv.lock", "pylock.toml"
EXACT_FORMATS = (UV_LOCK, PYLOCK)


@dataclass(frozen=True)
class InputSpec:
    """One build input: its form, its file (None for stdin) and the selection."""

    kind: str
    path: Path | None
    text: str | None = None  # standard input's contents
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    also: tuple[Path, ...] = ()  # more requirement files (`-r a.txt -r b.txt`, as pip takes them)
    constraints: tuple[Path, ...] = ()  # `-c FILE`

    @property
    def display(self) -> str:
        first = "<stdin>" if self.path is None else str(self.path)
        return " + ".join([first, *(str(p) for p in self.also)])

    @property
    def exact(self) -> bool:
        """A lock of exact files: install them, resolve nothing."""
        return self.kind in EXACT_FORMATS

    @property
    def protected(self) -> list[Path]:
        """Files the run reads and must never write."""
        return ([] if self.path is None else [self.path]) + list(self.also) + list(self.constraints)


@dataclass
class Materialised:
    """The input as a pip requirement file for one target."""

    path: Path
    spec: InputSpec
    locked: LockedSet | None = None
    notes: list[str] = field(default_factory=list)


def input_kind(path: Path) -> str:
    name = path.name
    if name == "uv.lock":
        return UV_LOCK
    if is_pylock_name(name):
        return PYLOCK
    if name == "pyproject.toml":
        return PYPROJECT
    return REQUIREMENTS


def open_input(value: str | Path, extras: tuple[str, ...] = (), groups: tuple[str, ...] = (),
               stdin: IO[str] | None = None, also: tuple[str | Path, ...] = (),
               constraints: tuple[str | Path, ...] = ()) -> InputSpec:
    """Recognise the input ``value`` names; ``-`` reads ``stdin`` now.
    ``also`` are more requirement files and ``constraints`` constraint files
    (not with a lock: its pins are exact)."""
    if str(value) == "-":
        if stdin is None:
            raise InputError("`-` means requirements on standard input, but none was given.",
                             "Pipe a requirements file in (`cat requirements.txt | fcslim resolve - ...`).")
        kind, path, text = STDIN, None, stdin.read()
    else:
        path = Path(value)
        if path.is_dir() and (path / "pyproject.toml").is_file():
            path = path / "pyproject.toml"
        kind, text = input_kind(path), None
        if not path.is_file():
            raise InputError(f"Input {path} does not exist or is not a file.",
                             "Pass a requirements.txt, pyproject.toml, uv.lock or pylock.toml (or `-` for stdin).")
    note_input(path)  # a run never writes what it reads
    if (extras or groups) and kind in (REQUIREMENTS, STDIN):
        raise InputError(f"--extra and --group select from pyproject.toml, uv.lock or pylock.toml, not from "
                         f"{'standard input' if path is None else path.name}.",
                         "Write the extra into the requirement (`name[extra]`), or pass the project's file.")
    more = tuple(_requirement_file(p, "requirement") for p in also)
    limits = tuple(_requirement_file(p, "constraint") for p in constraints)
    if (more or limits) and kind in EXACT_FORMATS:
        raise InputError(f"{path} is a lock of exact files; more requirement or constraint files cannot change it.",
                         "Pass the lock alone, or lock the combined input first (`fcslim lock`).")
    return InputSpec(kind, path, text, tuple(extras), tuple(groups), more, limits)


def _requirement_file(value: str | Path, role: str) -> Path:
    path = Path(value)
    if not path.is_file() or input_kind(path) != REQUIREMENTS:
        raise InputError(f"The {role} file {path} does not exist or is not a requirements file.",
                         f"Pass a requirements.txt-style file as -{role[0]}; combine a project or lock by locking it "
                         "first.")
    note_input(path)
    return path.resolve()


def materialise(spec: InputSpec, profile: Profile, directory: Path) -> Materialised:
    """Write ``spec`` for ``profile`` as a requirement file under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    given = _materialise_one(spec, profile, directory)
    if not spec.also and not spec.constraints:
        return given
    combined = directory / "combined.requirements.txt"
    lines = [f"-r {given.path.resolve()}", *(f"-r {p}" for p in spec.also), *(f"-c {p}" for p in spec.constraints)]
    combined.write_text("".join(f"{line}\n" for line in lines))
    return Materialised(combined, spec, given.locked, given.notes)


def _materialise_one(spec: InputSpec, profile: Profile, directory: Path) -> Materialised:
    if spec.kind == REQUIREMENTS:
        assert spec.path is not None
        return Materialised(spec.path, spec)
    if spec.kind == STDIN:
        raw = directory / "stdin.txt"
        raw.write_text(spec.text or "")
        parsed = parse_requirements(raw, base=Path.cwd(), display="<stdin>")
        parsed.write_normalised(directory)  # constraints.txt, which the text names
        own = [(r.line, " ".join([str(r.requirement), *(f"--hash={h}" for h in r.hashes)]))
               for r in parsed.requirements if r.source == raw]
        included = [r.normalised() for r in parsed.requirements if r.source != raw]
        out = directory / "stdin.requirements.txt"  # stdin's requirements on their own line numbers
        out.write_text(_line_aligned(own) + parsed.to_text(requirements=False)
                       + "".join(f"{line}\n" for line in included))
        return Materialised(out, spec)
    assert spec.path is not None
    # Each format's reader is imported for its own input only: a warm rebuild
    # of a requirements file pays for none of them (python -X importtime).
    if spec.kind == PYPROJECT:
        from fcslim.resolve.pyproject import project_requirements

        found = project_requirements(spec.path, spec.path.read_text(encoding="utf-8-sig"), spec.extras, spec.groups)
        out = directory / "pyproject.requirements.txt"
        out.write_text(_line_aligned([(r.line, r.text) for r in found]))
        return Materialised(out, spec)
    from fcslim.resolve.locked import hashed_requirements

    if spec.kind == UV_LOCK:
        from fcslim.resolve.uvlock import read_uv_lock

        locked = read_uv_lock(spec.path, profile, spec.extras, spec.groups)
    else:
        from fcslim.resolve.lockfile import check_recorded_target, read_lock_target
        from fcslim.resolve.pylock import read_pylock

        recorded = read_lock_target(_header(spec.path))
        if recorded is not None:
            check_recorded_target(recorded, profile, spec.path)
        locked = read_pylock(spec.path, profile, spec.extras, spec.groups or None)
    text, unhashed = hashed_requirements(locked, profile)
    out = directory / f"{spec.path.name}.requirements.txt"
    out.write_text(text)
    notes = [f"{spec.path.name} gives no digest for the local wheels of {', '.join(unhashed)}; "
             "they were installed as found."] if unhashed else []
    return Materialised(out, spec, locked, notes)


def _line_aligned(items: list[tuple[int, str]]) -> str:
    """Requirement lines placed at the line numbers the user's file has them
    on (blank lines between), so that ``file:line`` in a resolver error,
    renamed by :func:`named_for_user`, points into the user's file."""
    lines: list[str] = []
    for line, text in sorted(items):
        while len(lines) < line - 1:
            lines.append("")
        lines.append(text)
    return "".join(f"{line}\n" for line in lines)


@contextmanager
def named_for_user(given: Materialised) -> Iterator[None]:
    """Errors raised while the resolver reads a materialised file name the
    user's input (``pyproject.toml``, ``<stdin>``) instead of it."""
    try:
        yield
    except FcslimError as exc:
        if given.path != given.spec.path:
            for attribute in ("message", "hint"):
                value = getattr(exc, attribute)
                if value:
                    setattr(exc, attribute, value.replace(str(given.path), given.spec.display))
            exc.args = (exc.paragraph(),)
        raise


def _header(path: Path) -> list[str]:
    """The leading comment lines of a lock (where fcslim records its target)."""
    out = []
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return out
