"""Property: whatever output a user names, nothing outside it changes (offline).

One small world is built once: a home directory (``$HOME``) holding a project
whose build reads a requirements file with a ``-r`` include and a ``-c``
constraints file, a runtime profile, a ``[tool.fcslim]`` config and a
find-links directory; unrelated data; symbolic links to the home, the project
and an input directory; an earlier fcslim bundle, zip and lock.  Then every
place in it is tried as an output: each directory (every ancestor of the
project, of ``$HOME``, of each input), each symbolic link, each file, and new
paths below each, as the bundle directory of ``resolve``, as the lock of
``lock`` and as the zip of ``pack``; plus a real read-only bind mount.

For every run the whole world is hashed before and after (kinds, modes,
contents, link targets) and these must hold:

* the exit code is 0, 2 (click refuses a file where a directory is wanted),
  3 (refused) or 11 (environment), never a crash;
* a refused run changes nothing at all;
* a run that succeeds changed only its own outputs, and replaced only what was
  absent, empty or written by fcslim (its own bundle, zip, manifest or lock).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK, EXIT_USAGE
from fcslim.target.profile import builtin_profiles
from tests.support.mounts import mount_unavailable, read_only_bind
from tests.support.trees import tree_state

FAST = ["--no-fetch", "--no-slim", "--no-verify", "--no-cache", "-q"]


@dataclass(frozen=True)
class World:
    top: Path
    home: Path
    project: Path
    links: Path


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=True)
    text = " ".join(result.output.split())
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"fcslim {' '.join(args)} crashed: {result.exception!r}\n{text}")
    return result.exit_code, text


def _resolve_args(world: World) -> list[str]:
    return ["resolve", "requirements.txt", "-R", "./runtime.json", "--config", "fcslim.toml",
            "--no-index", "-f", "wheels", *FAST]


@pytest.fixture(scope="module")
def world(tmp_path_factory, links) -> World:
    top = tmp_path_factory.mktemp("world")
    home = top / "home" / "user"
    project = home / "proj"
    for directory in (project / "inc", project / "src", project / "wheels", home / ".config", top / "data"):
        directory.mkdir(parents=True)
    (home / ".bashrc").write_text("export PS1='$ '\n")
    (home / ".config" / "tool.toml").write_text("answer = 42\n")
    (top / "data" / "shared.txt").write_text("shared data\n")
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\nversion = '1'\n")
    (project / "requirements.txt").write_text("-r inc/base.txt\n-c constraints.txt\n")
    (project / "inc" / "base.txt").write_text("needs-backport\n")
    (project / "constraints.txt").write_text("alpha<3\n")
    (project / "fcslim.toml").write_text("[tool.fcslim]\nkeep = ['alpha/**']\n")
    (project / "runtime.json").write_text(json.dumps(builtin_profiles()["fc-python3.10"].to_dict()))
    (project / "src" / "app.py").write_text("def handler(event, context):\n    return 'ok'\n")
    for wheel in ("needs_backport-1.0-py3-none-any.whl", "alpha-1.0-py3-none-any.whl",
                  "backport-1.0-py3-none-any.whl"):
        shutil.copy2(links / wheel, project / "wheels" / wheel)
    os.symlink("home/user", top / "lnk-home")
    os.symlink("home/user/proj", top / "lnk-proj")
    os.symlink("proj/inc", home / "lnk-inc")
    os.symlink("proj/requirements.txt", home / "lnk-req")
    made = World(top, home, project, links)
    with _in_world(made):
        assert _cli(*_resolve_args(made), "-o", "build-prev", "--pack", "code",
                    "--pack-output", "prev.zip", "--lock", "prev.lock")[0] == EXIT_OK
    return made


class _in_world:
    """HOME is the world's home and the working directory its project."""

    def __init__(self, world: World):
        self.world = world

    def __enter__(self):
        self.saved = (os.environ.get("HOME"), os.getcwd())
        os.environ["HOME"] = str(self.world.home)
        os.chdir(self.world.project)

    def __exit__(self, *exc):
        home, cwd = self.saved
        os.chdir(cwd)
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home


def _rel(world: World, path: Path) -> str:
    return os.path.relpath(os.path.realpath(path), world.top).replace(os.sep, "/")


# New paths are tried below these only (each success costs a real install, or
# a lock of ~4 s; refusals are instant, so every existing path is tried).
_FRESH_DIRS_UNDER = (".", "data", "home/user", "home/user/proj", "home/user/proj/inc", "lnk-proj", "home/user/lnk-inc")
_FRESH_FILES_UNDER = ("data", "lnk-proj")


def _candidates(world: World) -> tuple[list[Path], list[Path]]:
    """(directory-ish paths, file-ish paths) to try as outputs: every existing
    directory, file and link, and new paths below a few of them."""
    dirs, files = [], []
    for dirpath, dirnames, filenames in os.walk(world.top):
        here = Path(dirpath)
        if here.name == "build-prev" or ".fcslim" in here.parts:
            dirnames[:] = []
        dirs.append(here)
        for name in dirnames + filenames:
            path = here / name
            if path.is_symlink():
                (dirs if path.is_dir() else files).append(path)
            elif path.is_file():
                files.append(path)
    dirs.append(world.project / "build-prev")
    dirs.extend(world.top / rel / "new-out" for rel in _FRESH_DIRS_UNDER)
    files.extend(world.top / rel / "new.out" for rel in _FRESH_FILES_UNDER)
    return dirs, files


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _within(rel: str, roots: set[str]) -> bool:
    return any(rel == r or rel.startswith(r + "/") for r in roots)


# What the world's fixture built with fcslim (besides its bundle, which carries its record).
_OURS = {"home/user/proj/prev.zip", "home/user/proj/prev.zip.manifest.json", "home/user/proj/prev.lock"}


def _was_ours_or_empty(before: dict, rel: str, kind: str) -> bool:
    """Whether the output at ``rel`` (world-relative) was absent, empty or fcslim's."""
    if rel not in before:
        return True
    if kind == "dir":
        inside = [k for k in before if k.startswith(rel + "/")]
        return not inside or f"{rel}/.fcslim/owner.json" in before
    return rel in _OURS


def _check(world: World, args: list[str], outputs: dict[Path, str]) -> int:
    """Run ``args``; assert the properties; return the exit code."""
    before = tree_state(world.top)
    code, text = _cli(*args)
    after = tree_state(world.top)
    assert code in (EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_ENVIRONMENT), (args, text)
    changed = _changed(before, after)
    if code != EXIT_OK:
        assert not changed, (args, text, sorted(changed)[:10])
        return code
    allowed = {_rel(world, p) for p in outputs}
    created_parents = {k for k in changed if k not in before and after[k][0] == "dir"}
    stray = {k for k in changed if not _within(k, allowed) and k not in created_parents}
    assert not stray, (args, sorted(stray)[:10])
    for path, kind in outputs.items():
        rel = _rel(world, path)
        assert _was_ours_or_empty(before, rel, kind), (args, f"replaced {rel}, which fcslim did not make")
    return code


def _undo(world: World, outputs: dict[Path, str], before_names: set[str]) -> None:
    """Remove outputs a successful run created, so the world stays small."""
    for path in outputs:
        real = Path(os.path.realpath(path))
        if _rel(world, real) not in before_names and real.exists():
            shutil.rmtree(real) if real.is_dir() else real.unlink()


def test_bundle_directories_anywhere(world):
    dirs, files = _candidates(world)
    codes = {}
    with _in_world(world):
        for out in dirs + files:
            names = set(tree_state(world.top))
            outputs = {out: "dir"}
            codes[_rel(world, out)] = _check(world, [*_resolve_args(world), "-o", str(out)], outputs)
            if codes[_rel(world, out)] == EXIT_OK:
                _undo(world, outputs, names)
    ok = sorted(k for k, c in codes.items() if c == EXIT_OK)
    # the property is not vacuous: fresh paths and fcslim's own bundle were built
    assert "home/user/proj/build-prev" in ok and "home/user/proj/new-out" in ok and "data/new-out" in ok
    for refused in ("home", "home/user", "home/user/proj", "home/user/proj/inc", "home/user/proj/wheels",
                    ".", "data"):
        assert codes[refused] == EXIT_INPUT, refused
    assert codes["home/user/proj/requirements.txt"] in (EXIT_USAGE, EXIT_INPUT)


def test_locks_and_zips_anywhere(world):
    dirs, files = _candidates(world)
    codes = {}
    with _in_world(world):
        for out in files + [d for d in dirs if d.name != "new-out"]:
            names = set(tree_state(world.top))
            manifest = out.with_name(out.name + ".manifest.json")
            for role, args, outputs in (
                ("lock", ["lock", "requirements.txt", "-R", "./runtime.json", "--no-index", "-f", "wheels",
                          "-o", str(out)], {out: "lock"}),
                ("zip", ["pack", "build-prev", "-R", "./runtime.json", "-q", "-o", str(out)],
                 {out: "zip", manifest: "zip"}),
            ):
                codes[(role, _rel(world, out))] = code = _check(world, args, outputs)
                if code == EXIT_OK:
                    _undo(world, outputs, names)
    ok = sorted(k for k, c in codes.items() if c == EXIT_OK)
    assert ("lock", "home/user/proj/prev.lock") in ok and ("zip", "home/user/proj/prev.zip") in ok
    assert ("lock", "data/new.out") in ok and ("zip", "home/user/proj/new.out") in ok  # the latter through lnk-proj
    for role in ("lock", "zip"):
        for mine in ("home/user/.bashrc", "home/user/proj/requirements.txt", "home/user/proj/inc/base.txt",
                     "home/user/proj/runtime.json", "data/shared.txt"):
            assert codes[(role, mine)] == EXIT_INPUT, (role, mine)
    assert codes[("zip", "home/user/proj/prev.lock")] == EXIT_INPUT  # a lock is not a zip
    assert codes[("lock", "home/user/proj/prev.zip")] == EXIT_INPUT


def test_read_only_mount_changes_nothing(world):
    reason = mount_unavailable()
    if reason:
        pytest.skip(reason)
    ro = world.top / "ro"
    (ro / "inside").mkdir(parents=True, exist_ok=True)
    (ro / "inside" / "kept.txt").write_text("kept\n")
    try:
        with read_only_bind(ro), _in_world(world):
            for out, kind, args in (
                (ro / "out", "dir", [*_resolve_args(world), "-o", str(ro / "out")]),
                (ro / "inside", "dir", [*_resolve_args(world), "-o", str(ro / "inside")]),
                (ro / "x.lock", "lock", ["lock", "requirements.txt", "-R", "./runtime.json", "--no-index",
                                         "-f", "wheels", "-o", str(ro / "x.lock")]),
                (ro / "x.zip", "zip", ["pack", "build-prev", "-R", "./runtime.json", "-q", "-o", str(ro / "x.zip")]),
            ):
                code = _check(world, args, {out: kind})
                assert code == (EXIT_INPUT if out.name == "inside" else EXIT_ENVIRONMENT), out
    finally:
        shutil.rmtree(ro)
