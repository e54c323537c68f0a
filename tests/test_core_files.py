"""The one atomic write, copy-over and directory swap (fcslim/core/files.py),
and the run's inputs they protect (offline, unit level)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fcslim.core.errors import OutputRefusedError
from fcslim.core.files import atomic_file, atomic_write, copy_over, replace_directory
from fcslim.core.inputs import note_input, run_scope


def test_a_replaced_file_keeps_its_mode_and_a_new_one_gets_the_umask_default(tmp_path):
    old = tmp_path / "script.sh"
    old.write_text("old")
    old.chmod(0o750)
    atomic_write(old, "new")
    assert old.read_text() == "new" and stat.S_IMODE(old.stat().st_mode) == 0o750
    fresh = atomic_write(tmp_path / "sub" / "fresh.txt", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_bytes_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write(b"half")
            raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_only_what_fcslim_owns_is_replaced(tmp_path):
    mine = tmp_path / "mine.txt"
    mine.write_text("user's")
    with pytest.raises(OutputRefusedError, match="was not written by fcslim"):
        atomic_write(mine, "x", owned=lambda p: p.read_text().startswith("fcslim"))
    assert mine.read_text() == "user's"
    (tmp_path / "ours.txt").write_text("fcslim wrote this")
    atomic_write(tmp_path / "ours.txt", "fcslim again", owned=lambda p: p.read_text().startswith("fcslim"))
    with pytest.raises(OutputRefusedError, match="is a directory"):
        atomic_write(tmp_path, "x")


def test_inputs_of_the_run_are_never_written_by_path_link_or_inode(tmp_path):
    req = tmp_path / "req.txt"
    req.write_text("alpha\n")
    os.symlink("req.txt", tmp_path / "via-link.txt")
    os.link(req, tmp_path / "hard.txt")
    with run_scope():
        note_input(req)
        for name in ("req.txt", "via-link.txt", "hard.txt"):
            with pytest.raises(OutputRefusedError, match="input of this run"):
                atomic_write(tmp_path / name, "lock")
        atomic_write(tmp_path / "other.txt", "fine")
    atomic_write(tmp_path / "hard.txt", "outside a run nothing is noted")
    # the write replaced the name with a new file: the other link keeps its bytes
    assert req.read_text() == "alpha\n" and (tmp_path / "hard.txt").read_text() == "outside a run nothing is noted"


def test_copy_over_gives_the_destination_its_own_inode(tmp_path):
    cached = tmp_path / "cached.so"
    cached.write_bytes(b"shared")
    linked = tmp_path / "bundle.so"
    os.link(cached, linked)
    copy_over(linked, linked)
    assert linked.stat().st_ino != cached.stat().st_ino and linked.read_bytes() == b"shared"
    linked.write_bytes(b"edited")
    assert cached.read_bytes() == b"shared"


def test_replace_directory_puts_the_old_one_back_when_the_second_rename_fails(tmp_path, monkeypatch):
    dest, new, aside = tmp_path / "dest", tmp_path / "new", tmp_path / "aside"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    new.mkdir()
    replace_directory(new, dest, aside)
    assert not (dest / "old.txt").exists() and (aside / "old.txt").is_file()

    real_rename = os.rename
    calls = []

    def second_fails(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(5, "I/O error")
        real_rename(src, dst)

    (tmp_path / "newer").mkdir()
    monkeypatch.setattr(os, "rename", second_fails)
    with pytest.raises(OSError):
        replace_directory(tmp_path / "newer", dest, tmp_path / "aside2")
    monkeypatch.undo()
    assert dest.is_dir() and not (tmp_path / "aside2").exists() and Path(tmp_path / "newer").is_dir()
