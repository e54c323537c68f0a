"""Every input form against the same pins: requirements.txt, stdin,
pyproject.toml (with --extra/--group), uv.lock written by the real uv, and
pylock.toml written by fcslim and by uv; lock pins are installed exactly,
hashes checked (offline: a PEP 503 index of the tiny wheels on loopback)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_INPUT, EXIT_OK, HashMismatchError, InputError, NoCompatibleWheelError
from fcslim.resolve.install import InstallOptions, install
from fcslim.resolve.inputs import materialise, open_input
from fcslim.resolve.locked import LockedFile, LockedPackage, choose_wheel
from fcslim.resolve.uv import uv_binary
from fcslim.target.profile import load_profile
from tests.support.simple_index import serve_simple_index
from tests.support.wheels import build_wheel

PYPROJECT = """\
[project]
name = "app"
version = "0.1"
requires-python = ">=3.9"
dependencies = [
    "needs-backport",
    "modern",
]

[project.optional-dependencies]
fast = ["cponly; platform_machine == 'x86_64'"]

[dependency-groups]
tools = ["stable"]
all = [{include-group = "tools"}, "glibc228"]
"""
BASE_310 = {"alpha": "2.0", "backport": "1.0", "modern": "1.0", "needs-backport": "1.0"}
EXTRAS_310 = {**BASE_310, "cponly": "1.0", "stable": "1.0", "glibc228": "1.0"}
BASE_311 = {"alpha": "2.0", "modern": "2.0", "needs-backport": "1.0"}


@pytest.fixture(scope="module")
def index(links, tmp_path_factory):
    with serve_simple_index(links, tmp_path_factory.mktemp("index")) as url:
        yield url


@pytest.fixture(scope="module")
def project(index, cache, tmp_path_factory) -> Path:
    """A project with a uv.lock written by the real uv against the index."""
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text(PYPROJECT)
    env = dict(os.environ, UV_CACHE_DIR=str(cache), UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
    subprocess.run([uv_binary(), "lock", "--index-url", index, "--python", sys.executable, "--no-config"],
                   cwd=root, env=env, check=True, capture_output=True, text=True)
    return root


def options(index: str, cache: Path) -> InstallOptions:
    return InstallOptions(index_url=index, cache_dir=cache)


def installed(spec, runtime: str, index: str, cache: Path, tmp_path: Path, name: str = "out"):
    profile = load_profile(runtime)
    given = materialise(spec, profile, tmp_path / f"{name}-input")
    install_options = InstallOptions(index_url=index, cache_dir=cache, no_deps=spec.exact)
    result = install(given.path, profile, tmp_path / name, install_options)
    return {d.name: d.version for d in result.distributions}, result, given


def test_requirements_and_stdin_and_pyproject_give_the_same_pins(project, index, cache, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("needs-backport\nmodern\n")
    assert installed(open_input(req), "fc-python3.10", index, cache, tmp_path, "req")[0] == BASE_310
    stdin = open_input("-", stdin=io.StringIO("needs-backport\nmodern\n"))
    assert installed(stdin, "fc-python3.10", index, cache, tmp_path, "stdin")[0] == BASE_310
    pyproject = open_input(project / "pyproject.toml")
    assert installed(pyproject, "fc-python3.10", index, cache, tmp_path, "pyp")[0] == BASE_310
    assert installed(pyproject, "aws-python3.11", index, cache, tmp_path, "pyp311")[0] == BASE_311
    selected = open_input(project, extras=("fast",), groups=("all",))  # a directory means its pyproject.toml
    assert installed(selected, "fc-python3.10", index, cache, tmp_path, "sel")[0] == EXTRAS_310


def test_uv_lock_installs_exactly_its_pins_hash_checked(project, index, cache, tmp_path):
    lock = open_input(project / "uv.lock")
    pins, result, given = installed(lock, "fc-python3.10", index, cache, tmp_path)
    assert pins == BASE_310 and result.hash_checked
    lines = given.path.read_text().splitlines()
    assert len(lines) == len(BASE_310) and all(" @ http://127.0.0.1:" in l and "--hash=sha256:" in l for l in lines)
    # the same lock for Python 3.11 takes the other branch of its markers
    assert installed(lock, "aws-python3.11", index, cache, tmp_path, "py311")[0] == BASE_311
    extras = open_input(project / "uv.lock", extras=("fast",), groups=("all",))
    assert installed(extras, "fc-python3.10", index, cache, tmp_path, "extras")[0] == EXTRAS_310


def test_uv_lock_hash_mismatch_is_refused(project, index, cache, tmp_path, links, tmp_path_factory):
    # Another index serving different bytes under the same names and versions.
    tampered = tmp_path / "tampered-links"
    shutil.copytree(links, tampered)
    build_wheel(tampered, "alpha", "2.0", files={"alpha/extra.py": "EVIL = True\n"})
    with serve_simple_index(tampered, tmp_path / "tampered-index") as evil:
        text = (project / "uv.lock").read_text().replace(index.removesuffix("/simple/"), evil.removesuffix("/simple/"))
        moved = tmp_path / "moved"
        moved.mkdir()
        (moved / "pyproject.toml").write_text(PYPROJECT)
        (moved / "uv.lock").write_text(text)
        with pytest.raises(HashMismatchError, match="alpha"):
            installed(open_input(moved / "uv.lock"), "fc-python3.10", evil, cache, tmp_path, "evil")
        assert not (tmp_path / "evil" / "alpha").exists()


def test_pylock_from_fcslim_lock_and_from_uv(project, index, cache, tmp_path):
    runner = CliRunner()
    out = tmp_path / "pylock.toml"
    made = runner.invoke(main, ["lock", str(project / "pyproject.toml"), "-R", "fc-python3.10", "-o", str(out),
                                "-i", index, "--json"], catch_exceptions=False)
    assert made.exit_code == EXIT_OK, made.output
    document = json.loads(made.stdout)
    assert document["format"] == "pylock.toml"
    assert {p["name"]: p["version"] for p in document["pins"]} == BASE_310
    text = out.read_text()
    assert text.startswith("# Pinned for fc-python3.10") and 'lock-version = "1.0"' in text
    assert installed(open_input(out), "fc-python3.10", index, cache, tmp_path, "fc")[0] == BASE_310
    with pytest.raises(InputError, match="made for fc-python3.10, not aws-python3.11"):
        installed(open_input(out), "aws-python3.11", index, cache, tmp_path, "other")

    # uv's own PEP 751 output (no fcslim header), with a dependency group
    uv_lock = tmp_path / "uv" / "pylock.toml"
    uv_lock.parent.mkdir()
    env = dict(os.environ, UV_CACHE_DIR=str(cache), NO_COLOR="1")
    subprocess.run([uv_binary(), "export", "--format", "pylock.toml", "--frozen", "--group", "all", "-o",
                    str(uv_lock), "--no-config"], cwd=project, env=env, check=True, capture_output=True, text=True)
    pins = installed(open_input(uv_lock), "fc-python3.10", index, cache, tmp_path, "uvp")[0]
    assert pins == {**BASE_310, "stable": "1.0", "glibc228": "1.0"}


def test_lock_from_pyproject_in_pip_tools_format_has_the_same_pins(project, index, tmp_path):
    out = tmp_path / "requirements.lock"
    made = CliRunner().invoke(main, ["lock", "-r", str(project / "pyproject.toml"), "--extra", "fast", "-o", str(out),
                                     "-i", index, "--json"], catch_exceptions=False)
    assert made.exit_code == EXIT_OK, made.output
    assert {p["name"]: p["version"] for p in json.loads(made.stdout)["pins"]} == {**BASE_310, "cponly": "1.0"}
    assert "fcslim lock pyproject.toml" in out.read_text() or str(project / "pyproject.toml") in out.read_text()


def test_resolve_reads_stdin_and_pyproject_through_the_cli(project, index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["-i", index, "--no-fetch", "--no-slim", "--no-verify", "--no-cache", "--no-gate", "--json"]
    piped = CliRunner().invoke(main, ["resolve", "-", "-o", "a", *common], input="needs-backport\nmodern\n",
                               catch_exceptions=False)
    assert piped.exit_code == EXIT_OK, piped.output
    record = json.loads(piped.stdout)["install"]
    assert {d["name"]: d["version"] for d in record["distributions"]} == BASE_310
    assert record["requirements"]["file"] == "<stdin>"
    locked = CliRunner().invoke(main, ["resolve", "-r", str(project / "uv.lock"), "-o", "b", *common],
                                catch_exceptions=False)
    assert locked.exit_code == EXIT_OK, locked.output
    summary = json.loads(locked.stdout)
    assert summary["install"]["requirements"]["hash_checked"] is True
    assert summary["install"]["requirements"]["file"] == str(project / "uv.lock")


def test_the_wheel_for_the_target_is_chosen():
    def wheel(name: str) -> LockedFile:
        return LockedFile(name, f"https://example.invalid/{name}", hashlib.sha256(name.encode()).hexdigest())

    package = LockedPackage("pkg", "1.0", (
        wheel("pkg-1.0-cp310-cp310-manylinux_2_17_aarch64.whl"),
        wheel("pkg-1.0-py3-none-any.whl"),
        wheel("pkg-1.0-cp310-cp310-manylinux_2_28_x86_64.whl"),
        wheel("pkg-1.0-cp310-cp310-manylinux_2_34_x86_64.whl"),
    ), None, "test")
    assert choose_wheel(package, load_profile("fc-python3.10")).filename.endswith("manylinux_2_28_x86_64.whl")
    assert choose_wheel(package, load_profile("aws-python3.12-arm64")).filename == "pkg-1.0-py3-none-any.whl"
    native = LockedPackage("pkg", "1.0", package.wheels[2:], None, "uv.lock: package pkg 1.0")
    with pytest.raises(NoCompatibleWheelError, match="none of its wheels installs on aws-python3.12"):
        choose_wheel(native, load_profile("aws-python3.12"))


@pytest.mark.parametrize("text,match", [
    ('[project]\nname = "a"\nversion = "1"\ndynamic = ["dependencies"]\n', "dynamic"),
    ('[project]\nname = "a"\nversion = "1"\ndependencies = ["ok", "not valid !!"]\n', r"pyproject.toml:4"),
    ('[tool.other]\nx = 1\n', "no \\[project\\] table"),
    ('[project\nname = "a"\n', "not valid TOML"),
])
def test_bad_pyproject_is_exit_3_naming_the_file(tmp_path, text, match):
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        materialise(open_input(path), load_profile("fc-python3.10"), tmp_path / "m")


def test_unknown_extra_or_group_names_the_known_ones(project, tmp_path):
    profile = load_profile("fc-python3.10")
    for path in (project / "pyproject.toml", project / "uv.lock"):
        with pytest.raises(InputError, match="fast"):
            materialise(open_input(path, extras=("nope",)), profile, tmp_path / "x")
        with pytest.raises(InputError, match="tools"):
            materialise(open_input(path, groups=("nope",)), profile, tmp_path / "y")
    result = CliRunner().invoke(main, ["resolve", str(project / "uv.lock"), "--extra", "nope", "-o",
                                       str(tmp_path / "o")], catch_exceptions=False)
    assert result.exit_code == EXIT_INPUT


def test_resolve_lock_writes_and_reuses_a_pylock(project, index, cache, tmp_path, quiet):
    from fcslim.pipeline import BuildOptions, build

    def run(output: str):
        return build(BuildOptions(requirements=project / "pyproject.toml", profile=load_profile("fc-python3.10"),
                                  output=tmp_path / output, install=options(index, cache), lock=tmp_path / "pylock.toml",
                                  fetch=False, slim=False, verify=False, cache=False, gate=False))

    first = run("a")
    assert {d.name: d.version for d in first.distributions} == BASE_310
    assert first.install.hash_checked and not first.lock.reused
    text = (tmp_path / "pylock.toml").read_text()
    assert text.startswith("# Pinned for fc-python3.10") and "[[packages]]" in text
    assert {p.name: p.version for p in first.lock.pins} == BASE_310
    second = run("b")
    assert second.lock.reused and {d.name: d.version for d in second.distributions} == BASE_310
    assert (tmp_path / "pylock.toml").read_text() == text


def test_uv_lock_with_local_and_url_wheel_sources(links, index, cache, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copy(links / "alpha-1.0-py3-none-any.whl", root)
    served = index.removesuffix("/simple/") + "/files/backport-1.0-py3-none-any.whl"
    (root / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.9"\n'
        f'dependencies = ["alpha", "backport @ {served}"]\n\n'
        '[tool.uv.sources]\nalpha = { path = "alpha-1.0-py3-none-any.whl" }\n')
    env = dict(os.environ, UV_CACHE_DIR=str(cache), UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
    subprocess.run([uv_binary(), "lock", "--python", sys.executable, "--no-config"], cwd=root, env=env, check=True,
                   capture_output=True, text=True)
    pins, result, given = installed(open_input(root / "uv.lock"), "fc-python3.10", index, cache, tmp_path)
    assert pins == {"alpha": "1.0", "backport": "1.0"} and result.hash_checked
    text = given.path.read_text()
    assert (root / "alpha-1.0-py3-none-any.whl").resolve().as_uri() in text and served in text
    assert text.count("--hash=sha256:") == 2


def test_several_requirement_files_and_constraints_as_pip_takes_them(index, cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("needs-backport\n")
    (tmp_path / "b.txt").write_text("modern\n")
    (tmp_path / "c.txt").write_text("alpha==1.0\n")
    common = ["-i", index, "--no-fetch", "--no-slim", "--no-verify", "--no-cache", "--no-gate", "--json"]
    result = CliRunner().invoke(main, ["resolve", "-r", "a.txt", "-r", "b.txt", "-c", "c.txt", "-o", "out", *common],
                                catch_exceptions=False)
    assert result.exit_code == EXIT_OK, result.output
    record = json.loads(result.stdout)["install"]
    assert {d["name"]: d["version"] for d in record["distributions"]} == {**BASE_310, "alpha": "1.0"}
    lock = open_input(tmp_path / "a.txt")
    with pytest.raises(InputError, match="not a requirements file"):
        open_input(tmp_path / "a.txt", also=(str(tmp_path / "nope.txt"),))
    assert lock.protected == [tmp_path / "a.txt"]


def test_resolver_errors_name_the_users_file_and_line(index, cache, tmp_path, quiet):
    from fcslim.core.errors import UnknownPackageError
    from fcslim.pipeline import BuildOptions, build

    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "app"\nversion = "0"\ndependencies = [\n    "alpha",\n'
                    '    "no-such-package-here",\n]\n')
    with pytest.raises(UnknownPackageError) as caught:
        build(BuildOptions(requirements=path, profile=load_profile("fc-python3.10"), output=tmp_path / "out",
                           install=options(index, cache), fetch=False, slim=False, verify=False, cache=False))
    assert f"{path}:6" in str(caught.value) and "pyproject.requirements.txt" not in str(caught.value)


def test_python_api_takes_any_input(project, index, cache, tmp_path, quiet):
    import fcslim

    spec = fcslim.open_input(project / "uv.lock", extras=("fast",))
    result = fcslim.build(fcslim.BuildOptions(requirements=spec, profile=fcslim.load_profile("fc-python3.10"),
                                              output=tmp_path / "api", install=options(index, cache), fetch=False,
                                              slim=False, verify=False, cache=False, gate=False))
    assert {d.name: d.version for d in result.distributions} == {**BASE_310, "cponly": "1.0"}


def test_stdin_errors_name_stdin_and_its_line(index, cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "more.txt").write_text("modern\n")
    result = CliRunner().invoke(main, ["resolve", "-", "-o", "out", "-i", index, "--no-fetch", "--no-slim",
                                       "--no-verify", "--no-cache"],
                                input="alpha\n-r more.txt\n\nno-such-package-here\n", catch_exceptions=False)
    assert result.exit_code == 4, result.output
    assert "<stdin>:4" in result.output and "stdin.requirements.txt" not in result.output


def test_all_extras_selects_every_extra(project, tmp_path):
    profile = load_profile("fc-python3.10")
    for path in (project / "pyproject.toml", project / "uv.lock"):
        given = materialise(open_input(path, extras=(":all:",)), profile, tmp_path / path.name)
        assert "cponly" in given.path.read_text()
    result = CliRunner().invoke(main, ["resolve", str(project / "uv.lock"), "--all-extras", "--extra", "nope", "-o",
                                       str(tmp_path / "o")], catch_exceptions=False)
    assert result.exit_code == EXIT_INPUT and "nope" in result.output
