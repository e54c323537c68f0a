"""Environment problems are FcslimErrors with exit 11 and a paragraph naming
the place (offline): a read-only file system (a real read-only bind mount), a
full disk (a real 8 KiB tmpfs), a directory without write permission, a cache
directory that is a file.  Exit 1 stays for bugs."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.cli.common import handle_errors
from fcslim.core.errors import EXIT_ENVIRONMENT, EXIT_INTERNAL, LocationError
from fcslim.core.files import atomic_write, location_error
from tests.support.mounts import (dac_unavailable, mount_unavailable, read_only_bind, tiny_tmpfs,
                                  without_dac_override)
from tests.support.trees import tree_state

FAST = ["--no-fetch", "--no-slim", "--no-verify", "--no-cache", "-q"]


@pytest.fixture
def project(tmp_path, links, cache, monkeypatch) -> Path:
    (tmp_path / "req.txt").write_text("alpha\n")
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str, links: Path) -> tuple[int, str]:
    extra = ["--no-index", "-f", str(links)] if args[0] in ("resolve", "lock") else []
    result = CliRunner().invoke(main, [*args, *extra], catch_exceptions=False)
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("code, words", [
    (errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied"),
    (errno.ENOSPC, "file system is full"), (errno.ENOTDIR, "is a file, not a directory"),
    (errno.EDQUOT, "quota"), (errno.EPERM, "not permitted"),
])
def test_host_errnos_become_location_errors(code, words):
    error = location_error(OSError(code, os.strerror(code), "/x/y"), "/x/y", "zip")
    assert isinstance(error, LocationError) and error.exit_code == EXIT_ENVIRONMENT == 11
    assert words in str(error) and "The zip /x/y" in str(error)
    assert location_error(OSError(errno.EIO, "I/O error"), "/x/y") is None  # not the environment's


def test_an_unmapped_host_error_anywhere_still_exits_11_and_a_bug_exits_1(capsys):
    @handle_errors
    def fails(exc):
        raise exc

    for exc, code in ((OSError(errno.EROFS, "Read-only file system", "/ro/x"), EXIT_ENVIRONMENT),
                      (ValueError("a bug"), EXIT_INTERNAL)):
        with pytest.raises(SystemExit) as caught:
            fails(exc)
        assert caught.value.code == code
    err = capsys.readouterr().err
    assert "/ro/x is on a read-only file system" in err and "internal error: ValueError" in err


def test_a_cache_directory_that_is_a_file(project, links, monkeypatch):
    (project / "cachefile").write_text("not a directory\n")
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(project / "cachefile"))
    for args in (["resolve", "req.txt", "-o", "out", "--no-fetch", "--no-slim", "--no-verify", "-q"],
                 ["resolve", "req.txt", "-o", "out", *FAST]):
        code, text = cli(*args, links=links)
        assert code == EXIT_ENVIRONMENT, text
        assert f"{project / 'cachefile'} is a file, not a directory" in text and "FCSLIM_CACHE_DIR" in text
    assert not (project / "out").exists()


def test_read_only_output_lock_and_zip(project, links):
    reason = mount_unavailable()
    if reason:
        pytest.skip(reason)
    code, _ = cli("resolve", "req.txt", "-o", "bundle", *FAST, links=links)
    assert code == 0
    ro = project / "ro"
    ro.mkdir()
    before = tree_state(project)
    with read_only_bind(ro):
        for args, role in ((["resolve", "req.txt", "-o", "ro/out", *FAST], "output directory"),
                           (["lock", "req.txt", "-o", "ro/req.lock"], "lock file"),
                           (["pack", "bundle", "-o", "ro/bundle.zip", "-q"], "zip")):
            code, text = cli(*args, links=links)
            assert code == EXIT_ENVIRONMENT, text
            assert f"The {role} {ro}" in text and "read-only file system" in text, text
        # a cache on a read-only file system, with and without the bundle cache
        for extra in ([], ["--no-cache"]):
            os.environ["FCSLIM_CACHE_DIR"], saved = str(ro / "cache"), os.environ["FCSLIM_CACHE_DIR"]
            try:
                code, text = cli("resolve", "req.txt", "-o", "out2", *FAST[:3], "-q", *extra, links=links)
            finally:
                os.environ["FCSLIM_CACHE_DIR"] = saved
            assert code == EXIT_ENVIRONMENT, text
            assert str(ro / "cache") in text and "read-only file system" in text, text
    assert tree_state(project) == before


def test_a_full_disk_under_the_output(project, links):
    reason = mount_unavailable()
    if reason:
        pytest.skip(reason)
    before = tree_state(project)
    with tiny_tmpfs(project / "full", "8k") as full:
        code, text = cli("resolve", "req.txt", "-o", "full/out", *FAST, links=links)
        assert code == EXIT_ENVIRONMENT, text
        assert "file system is full" in text and str(full) in text
        assert os.listdir(full) == []  # the staging directory went too
        with pytest.raises(LocationError, match="file system is full"):
            atomic_write(full / "big.bin", b"x" * 64 * 1024, role="zip")
        assert os.listdir(full) == []
    assert tree_state(project, skip=("full",)) == before


def test_a_directory_without_write_permission(project, links):
    reason = dac_unavailable()
    if reason:
        pytest.skip(reason)
    locked = project / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    env = dict(os.environ, FCSLIM_CACHE_DIR=str(project / "cache"))
    argv = [sys.executable, "-m", "fcslim", "resolve", "req.txt", "-o", "locked/out", *FAST,
            "--no-index", "-f", str(links)]
    proc = subprocess.run(without_dac_override(argv), cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == EXIT_ENVIRONMENT, proc.stderr
    assert f"{locked / 'out'}" in proc.stderr and "permission denied" in proc.stderr
    assert os.listdir(locked) == []


def test_a_mount_point_as_output_is_named_with_what_to_do(project, links):
    reason = mount_unavailable()
    if reason:
        pytest.skip(reason)
    with tiny_tmpfs(project / "volume", "1m") as volume:
        code, text = cli("resolve", "req.txt", "-o", "volume", *FAST, links=links)
        assert code == EXIT_ENVIRONMENT, text
        assert f"{volume} is a mount point" in text and f"--output {volume / 'bundle'}" in text
        code, text = cli("resolve", "req.txt", "-o", "volume/bundle", *FAST, links=links)
        assert code == 0, text


def test_a_file_system_that_takes_no_directories(project, links):
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux's /proc")
    code, text = cli("resolve", "req.txt", "-o", "/proc/fcslim-out", *FAST, links=links)
    assert code == EXIT_ENVIRONMENT, text
    assert "/proc/fcslim-out cannot be created" in text
