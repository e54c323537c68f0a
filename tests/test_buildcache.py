"""Whole-bundle warm rebuilds: keys, restore by links or copies, damage detection."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from fcslim.cache import bundles as buildcache
from fcslim.cache.bundles import bundle_cache, bundle_key, restore_bundle, restore_bundle_stats, store_bundle
from tests.support.trees import snapshot

PROFILE = {"name": "fc-python3.10", "python": "3.10", "arch": "x86_64", "glibc": "2.28"}
OPTIONS = {"slim": True, "fetch": True, "compile": False}


def make_bundle(top: Path) -> Path:
    (top / "pkg" / "sub").mkdir(parents=True)
    (top / "pkg" / "__init__.py").write_text("VALUE = 41\n")
    (top / "pkg" / "sub" / "core.so").write_bytes(b"\x7fELF" + os.urandom(20000))
    (top / "pkg-1.0.dist-info").mkdir()
    (top / "pkg-1.0.dist-info" / "RECORD").write_text("pkg/__init__.py,,\n")
    (top / "lib").mkdir()
    (top / "lib" / "libgomp.so.1.0.0").write_bytes(b"\x7fELF" + os.urandom(3000))
    (top / "lib" / "libgomp.so.1").symlink_to("libgomp.so.1.0.0")
    (top / ".fcslim").mkdir()
    (top / ".fcslim" / "install.json").write_text('{"schema": 1}\n')
    (top / "bin").mkdir()
    (top / "bin" / "tool").write_text("#!/bin/sh\n")
    (top / "bin" / "tool").chmod(0o755)
    return top


@pytest.fixture
def stored(tmp_path):
    src = make_bundle(tmp_path / "built")
    key = bundle_key("numpy==2.0\n", None, PROFILE, OPTIONS, "rules-1")
    store_bundle(key, src, root=tmp_path / "cache")
    return key, src, tmp_path / "cache"


# ---------------------------------------------------------------- keys


def test_bundle_key_ignores_comments_blank_lines_and_line_ends():
    a = bundle_key("# deps\nnumpy==2.0\n\npandas==2.2  \n", None, PROFILE, OPTIONS, "r")
    b = bundle_key("numpy==2.0\r\n   pandas==2.2\r\n# trailing\n", None, PROFILE, OPTIONS, "r")
    assert a == b


@pytest.mark.parametrize("change", ["requirements", "pins", "profile", "options", "rules"])
def test_bundle_key_changes_with_every_input(change):
    args = {"requirements_text": "numpy\n", "resolved_pins": "numpy==2.0.0\n", "profile_dict": dict(PROFILE),
            "options": dict(OPTIONS), "rules_digest": "r1"}
    before = bundle_key(**args)
    if change == "requirements":
        args["requirements_text"] = "numpy\nscipy\n"
    elif change == "pins":
        args["resolved_pins"] = "numpy==2.0.1\n"
    elif change == "profile":
        args["profile_dict"]["glibc"] = "2.17"
    elif change == "options":
        args["options"]["slim"] = False
    else:
        args["rules_digest"] = "r2"
    assert bundle_key(**args) != before


def test_unpinned_input_without_pins_differs_from_with_pins():
    assert bundle_key("numpy\n", None, PROFILE, OPTIONS, "r") != bundle_key("numpy\n", "numpy==2.0\n", PROFILE,
                                                                           OPTIONS, "r")


# ---------------------------------------------------------------- restore


def test_restore_recreates_the_bundle_with_links_and_private_records(stored, tmp_path):
    key, src, root = stored
    out = tmp_path / "out"
    stats = restore_bundle_stats(key, out, root=root)
    assert stats is not None and stats.symlinks == 1
    assert snapshot(out) == snapshot(src)
    cached = bundle_cache(root).get_tree(key)
    so = out / "pkg" / "sub" / "core.so"
    assert so.stat().st_ino == (cached / "pkg" / "sub" / "core.so").stat().st_ino  # a hard link
    assert not so.stat().st_mode & 0o222  # read-only, like its cached original
    record = out / ".fcslim" / "install.json"
    assert record.stat().st_ino != (cached / ".fcslim" / "install.json").stat().st_ino  # a copy
    record.write_text('{"schema": 1, "restored": true}\n')  # rewriting records is safe
    assert restore_bundle(key, tmp_path / "again", root=root)
    assert (tmp_path / "again" / ".fcslim" / "install.json").read_text() == '{"schema": 1}\n'
    assert stats.linked + stats.copied == stats.files == 6 and stats.copied == 1


def test_restore_miss_leaves_destination_alone(tmp_path):
    out = tmp_path / "out"
    assert restore_bundle("0" * 64, out, root=tmp_path / "cache") is False
    assert not out.exists()
    out.mkdir()
    assert restore_bundle("0" * 64, out, root=tmp_path / "cache") is False
    assert list(out.iterdir()) == []


def test_restore_refuses_a_non_empty_destination(stored, tmp_path):
    key, _, root = stored
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError):
        restore_bundle(key, out, root=root)
    assert (out / "mine.txt").read_text() == "user data"


def test_removing_the_output_keeps_the_cache(stored, tmp_path):
    import shutil

    key, src, root = stored
    out = tmp_path / "out"
    assert restore_bundle(key, out, root=root)
    shutil.rmtree(out)
    assert restore_bundle(key, out, root=root)
    assert snapshot(out) == snapshot(src)


def test_edit_through_a_link_is_detected_and_the_entry_dropped(stored, tmp_path):
    key, src, root = stored
    out = tmp_path / "out"
    assert restore_bundle(key, out, root=root)
    victim = out / "pkg" / "__init__.py"
    victim.chmod(0o644)  # what root (or a determined user) can do anyway
    before = victim.stat().st_mtime_ns
    while True:
        victim.write_text("VALUE = 42\n")  # same size, in place: the cached inode changes too
        if victim.stat().st_mtime_ns != before:
            break
        time.sleep(0.01)
    assert restore_bundle(key, tmp_path / "second", root=root) is False
    assert bundle_cache(root).entries() == []  # discarded: the next build is cold and correct


def test_falls_back_to_copies_across_filesystems(stored, tmp_path, monkeypatch):
    key, src, root = stored

    def no_link(a, b):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(buildcache.os, "link", no_link)
    out = tmp_path / "out"
    stats = restore_bundle_stats(key, out, root=root)
    assert stats.linked == 0 and stats.copied == 6
    assert snapshot(out) == snapshot(src)
    assert (out / "pkg" / "__init__.py").stat().st_mode & 0o200  # private copies are writable


def test_link_false_gives_private_copies(stored, tmp_path):
    key, src, root = stored
    out = tmp_path / "out"
    assert restore_bundle(key, out, link=False, root=root)
    cached = bundle_cache(root).get_tree(key)
    assert (out / "pkg" / "sub" / "core.so").stat().st_ino != (cached / "pkg" / "sub" / "core.so").stat().st_ino
    (out / "pkg" / "__init__.py").write_text("VALUE = 1000\n")
    assert bundle_cache(root).get_tree(key, verify=True) is not None


def test_store_keeps_the_source_and_replaces_an_older_entry(stored, tmp_path):
    key, src, root = stored
    assert snapshot(src)  # still there, still writable
    (src / "pkg" / "__init__.py").write_text("VALUE = 43\n")
    store_bundle(key, src, root=root)
    out = tmp_path / "out"
    assert restore_bundle(key, out, root=root)
    assert (out / "pkg" / "__init__.py").read_text() == "VALUE = 43\n"
    assert len(bundle_cache(root).entries()) == 1


def test_clean_waits_for_no_one_but_skips_a_bundle_being_restored(stored, tmp_path):
    key, _, root = stored
    cache = bundle_cache(root)
    with cache.lock(key, shared=True):  # what restore_bundle holds while linking
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        result = ctx.Queue()
        proc = ctx.Process(target=lambda: result.put(bundle_cache(root).clean()))
        proc.start()
        freed = result.get(timeout=30)
        proc.join(30)
    assert freed == 0 and len(cache.entries()) == 1
    assert cache.clean() > 0


def test_the_bundle_key_covers_fcslim_code_and_data(tmp_path):
    """A bundle cached by another build of fcslim (a changed hook template,
    a changed rule) is never restored: the code and data digest changes."""
    from fcslim.build_key import rules_digest
    from fcslim.cache.codeid import fcslim_digest

    package, data = tmp_path / "fcslim", tmp_path / "data"
    (package / "fetch").mkdir(parents=True)
    data.mkdir()
    (package / "fetch" / "hook_template.py").write_text("HOOK = 1\n")
    (data / "slim_rules.json").write_text("{}\n")
    first = fcslim_digest(package, data)
    assert fcslim_digest(package, data) == first
    (package / "fetch" / "hook_template.py").write_text("HOOK = 2\n")
    second = fcslim_digest(package, data)
    assert second != first
    (data / "slim_rules.json").write_text('{"rules": []}\n')
    assert fcslim_digest(package, data) not in (first, second)
    assert len(rules_digest()) == 64
