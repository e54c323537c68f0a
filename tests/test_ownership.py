"""fcslim replaces only what it made (offline): the cases issue 9 reproduced on
0.1.0, each through the CLI with its exit code, and each checking that nothing
at all changed when the run was refused."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_INPUT, EXIT_OK
from fcslim.core.output import OWNER_RECORD, RECORDS_DIR, tree_entries
from tests.support.bundles import make_bundle, write
from tests.support.trees import tree_state

FAST = ["--no-fetch", "--no-slim", "--no-verify", "--no-cache", "-q"]


@pytest.fixture
def world(tmp_path, links, cache, monkeypatch) -> Path:
    """A home directory with a project in it, offline wheels, HOME pointing there."""
    home = tmp_path / "home" / "user"
    project = home / "proj"
    (project / "reqs").mkdir(parents=True)
    (project / "reqs" / "req.txt").write_text("alpha\n")
    (home / ".bashrc").write_text("export PS1='$ '\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    monkeypatch.chdir(project)
    return tmp_path


def run(*args: str, links: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--no-index", "-f", str(links)] if args[0] in ("resolve", "lock")
                                else list(args), catch_exceptions=False)
    return result.exit_code, " ".join(result.output.split())


def refused(world: Path, links: Path, *args: str, match: str) -> str:
    """Run, expect exit 3 naming ``match``, and that nothing changed anywhere."""
    before = tree_state(world)
    code, text = run(*args, links=links)
    assert code == EXIT_INPUT, text
    assert match in text, text
    assert "Traceback" not in text
    assert tree_state(world) == before
    return text


def test_an_output_holding_a_project_is_refused(world, links):
    ws = world / "home" / "user" / "proj" / "ws"
    (ws / "proj").mkdir(parents=True)
    (ws / "proj" / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    text = refused(world, links, "resolve", "reqs/req.txt", "-o", str(ws), *FAST, match=str(ws))
    assert "not made by fcslim" in text and "proj" in text


def test_home_and_its_parents_are_refused(world, links):
    for out in (world / "home" / "user", world / "home", world):
        refused(world, links, "resolve", "reqs/req.txt", "-o", str(out), *FAST, match="home directory")


def test_an_output_holding_an_include_or_the_config_is_refused(world, links):
    project = world / "home" / "user" / "proj"
    (project / "inc").mkdir()
    (project / "inc" / "base.txt").write_text("alpha\n")
    (project / "top.txt").write_text("-r inc/base.txt\n")
    refused(world, links, "resolve", "top.txt", "-o", "inc", *FAST, match="contains the input file")
    (project / "cfg").mkdir()
    (project / "cfg" / "slim.toml").write_text("[tool.fcslim]\nkeep = ['x/**']\n")
    refused(world, links, "resolve", "reqs/req.txt", "-o", "cfg", "--config", "cfg/slim.toml", *FAST,
            match="contains the input file")
    # a find-links directory is an input too
    wheels = project / "wheels"
    wheels.mkdir()
    (wheels / "note.txt").write_text("mine\n")
    refused(world, links, "resolve", "reqs/req.txt", "-o", "wheels", "-f", "wheels", *FAST,
            match="contains the input file")


def test_inputs_are_never_written(world, links):
    project = world / "home" / "user" / "proj"
    (project / "r2.txt").write_text("alpha\n")
    refused(world, links, "resolve", "r2.txt", "--lock", "r2.txt", "-o", "b1", *FAST, match="input of this run")
    refused(world, links, "resolve", "r2.txt", "--pack", "code", "--pack-output", "r2.txt", "-o", "b1", *FAST,
            match="input of this run")
    # the same file under another name (a hard link) is still the input
    os.link(project / "r2.txt", project / "alias.lock")
    refused(world, links, "resolve", "r2.txt", "--lock", "alias.lock", "-o", "b1", *FAST, match="r2.txt")
    refused(world, links, "lock", "r2.txt", "-o", "r2.txt", match="input file itself")


def test_files_fcslim_did_not_write_are_never_replaced(world, links):
    project = world / "home" / "user" / "proj"
    (project / "notes.txt").write_text("my notes\n")
    (project / "build.zip").write_bytes(b"my own zip, made by hand\n")
    (project / "hand.lock").write_text("alpha==1.0\n")
    refused(world, links, "resolve", "reqs/req.txt", "-o", "build", "--pack", "code", *FAST,
            match="was not written by fcslim")
    refused(world, links, "resolve", "reqs/req.txt", "-o", "b2", "--lock", "hand.lock", *FAST,
            match="was not written by fcslim")
    refused(world, links, "lock", "reqs/req.txt", "-o", "hand.lock", match="was not written by fcslim")

    code, text = run("resolve", "reqs/req.txt", "-o", "b2", *FAST, links=links)
    assert code == EXIT_OK, text
    refused(world, links, "pack", "b2", "-o", "notes.txt", match="notes.txt already exists")
    (project / "b2.zip.manifest.json").write_text("{}\n")
    refused(world, links, "pack", "b2", "-o", "b2.zip", match="manifest")


def test_what_fcslim_wrote_it_replaces(world, links):
    project = world / "home" / "user" / "proj"
    args = ["resolve", "reqs/req.txt", "-o", "build", "--lock", "req.lock", "--pack", "code", *FAST]
    assert run(*args, links=links)[0] == EXIT_OK
    assert zipfile.ZipFile(project / "build.zip").comment == b"written by fcslim"
    record = json.loads((project / "build" / RECORDS_DIR / OWNER_RECORD).read_text())
    assert "alpha/__init__.py" in record["entries"]
    # a new lock gets the usual mode (mkstemp would leave 0600)
    assert stat.S_IMODE((project / "req.lock").stat().st_mode) == 0o666 & ~_umask()
    (project / "reqs" / "req.txt").write_text("alpha\nbackport\n")
    (project / "build" / "alpha" / "__pycache__").mkdir()
    (project / "build" / "alpha" / "__pycache__" / "x.cpython-310.pyc").write_bytes(b"regenerated")
    code, text = run(*args, links=links)
    assert code == EXIT_OK, text
    assert (project / "build" / "backport").is_dir()
    assert sorted(p.name for p in project.iterdir()) == [
        "build", "build.zip", "build.zip.manifest.json", "req.lock", "reqs"]


def test_an_earlier_bundle_with_someone_elses_files_is_refused(world, links):
    project = world / "home" / "user" / "proj"
    assert run("resolve", "reqs/req.txt", "-o", "build", *FAST, links=links)[0] == EXIT_OK
    (project / "build" / "proj").mkdir()
    (project / "build" / "proj" / "pyproject.toml").write_text("")
    (project / "build" / "alpha" / "mine.py").write_text("")
    text = refused(world, links, "resolve", "reqs/req.txt", "-o", "build", *FAST, match="did not put there")
    assert "proj/" in text and "alpha/mine.py" in text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_slim_works_only_on_package_trees_and_bundles(world, links):
    project = world / "home" / "user" / "proj"
    for name in ("docs", "tests", "examples"):
        (project / name).mkdir()
        (project / name / "x.py").write_text("")
    (project / "ext.c").write_text("int x;\n")
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    refused(world, links, "slim", str(project), "--no-verify", match="looks like a project root")
    plain = world / "plain"
    (plain / "docs").mkdir(parents=True)
    (plain / "docs" / "a.md").write_text("mine\n")
    refused(world, links, "slim", str(plain), "--no-verify", match="not an installed package tree")
    # the plan alone changes nothing, so it is allowed anywhere
    assert run("slim", str(plain), "--dry-run", links=links)[0] == EXIT_OK

    # an installed package tree (pip/uv --target) and an fcslim bundle are slimmed
    site = world / "site"
    (site / "pkg-1.0.dist-info").mkdir(parents=True)
    (site / "pkg" / "tests").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("")
    (site / "pkg" / "tests" / "test_x.py").write_text("")
    code, text = run("slim", str(site), "--no-verify", links=links)
    assert code == EXIT_OK, text
    assert not (site / "pkg" / "tests").exists()
    assert run("resolve", "reqs/req.txt", "-o", "build", *FAST, links=links)[0] == EXIT_OK
    code, text = run("slim", "build", "--no-verify", links=links)
    assert code == EXIT_OK, text
    # its ownership record stays true, so the next build may replace it
    assert run("resolve", "reqs/req.txt", "-o", "build", *FAST, links=links)[0] == EXIT_OK


def test_a_bundle_from_fcslim_0_1_is_recognised_by_its_install_record(world, links):
    """0.1 wrote .fcslim/install.json but no owner record: its distributions'
    top-level names, lib/ and sitecustomize.py are fcslim's, anything else not."""
    old = world / "home" / "user" / "proj" / "old-build"
    (old / ".fcslim").mkdir(parents=True)
    (old / ".fcslim" / "install.json").write_text(json.dumps({"schema": 1, "distributions": [
        {"name": "alpha", "files": ["alpha/__init__.py", "alpha-1.0.dist-info/RECORD"]}]}))
    (old / "alpha").mkdir()
    (old / "alpha" / "__init__.py").write_text("")
    (old / "lib").mkdir()
    (old / "lib" / "libz.so.1").write_bytes(b"\x7fELF")
    (old / "mine").mkdir()
    (old / "mine" / "notes.txt").write_text("mine\n")
    refused(world, links, "resolve", "reqs/req.txt", "-o", "old-build", *FAST, match="mine/")
    (old / "mine" / "notes.txt").unlink()
    (old / "mine").rmdir()
    code, text = run("resolve", "reqs/req.txt", "-o", "old-build", *FAST, links=links)
    assert code == EXIT_OK, text
    assert (old / RECORDS_DIR / OWNER_RECORD).is_file() and not (old / "lib").exists()


def test_a_debian_keyring_and_a_smoke_script_are_inputs_too(world, links):
    project = world / "home" / "user" / "proj"
    (project / "keys").mkdir()
    (project / "keys" / "mirror.gpg").write_bytes(b"not really a keyring")
    refused(world, links, "resolve", "reqs/req.txt", "-o", "keys", "--debian-keyring", "keys/mirror.gpg", *FAST,
            match="contains the input file")
    (project / "app").mkdir()
    (project / "app" / "smoke.py").write_text("import alpha\n")
    refused(world, links, "resolve", "reqs/req.txt", "-o", "app", "--smoke", "app/smoke.py", *FAST,
            match="contains the input file")


# -- the ownership record's listing

def walk_entries(root: Path) -> list[str]:
    """The listing as os.walk gives it (what tree_entries replaced)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        if not prefix:
            dirnames[:] = [d for d in dirnames if d != ".fcslim"]
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = [d for d in dirnames if d not in links and d != "__pycache__"]
        found.extend(prefix + name for name in filenames + links if not name.endswith(".pyc"))
    return sorted(found)


def test_the_ownership_listing_is_what_os_walk_lists(tmp_path):
    tree = make_bundle(tmp_path / "t")
    write(tree / "alpha" / "__pycache__" / "x.cpython-310.pyc", "x")
    write(tree / "alpha" / "stray.pyc", "x")
    write(tree / "deep" / "a" / "b" / "c.txt", "c")
    (tree / "empty").mkdir()
    (tree / "linked-dir").symlink_to("deep/a")
    (tree / "linked-file").symlink_to("alpha/core.py")
    (tree / "dangling").symlink_to("nowhere")
    (tree / "deep" / "__pycache__").symlink_to("../alpha")  # a link named like a cache: kept
    os.mkfifo(tree / "deep" / "pipe")
    listing = tree_entries(tree)
    assert listing == walk_entries(tree)
    assert "linked-dir" in listing and "deep/__pycache__" in listing and "alpha/stray.pyc" not in listing
    assert not any(p.startswith(".fcslim") or "/__pycache__/" in p for p in listing)
