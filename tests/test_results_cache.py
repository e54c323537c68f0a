"""Results remembered by a tree's identity (fcslim/cache/results.py and its
users): an unchanged tree is served from the cache, a changed one never is,
and a corrupted entry is a miss that heals."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from fcslim.cache import codeid, results
from fcslim.core.treeid import tree_identity
from fcslim.elf import graph, loadcheck
from fcslim.elf.findings import MissingLibrary
from fcslim.elf.loadcheck import load_findings
from fcslim.report import memo, sizing
from fcslim.pipeline import BuildOptions, build
from fcslim.report.measure import build_report
from fcslim.resolve.options import InstallOptions
from fcslim.target.profile import load_profile
from tests.support.bundles import make_bundle, pseudo_random, write
from tests.support.elffiles import build_shared_library

FC = load_profile("fc-python3.10")


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


def entries(cache: Path, kind: str) -> list[Path]:
    return sorted((cache / results.NAMESPACE / kind).glob("*.json"))


def counting_measure(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = sizing.measure_tree  # measuring anew, counted
    monkeypatch.setattr(sizing, "measure_tree", lambda root, *a: calls.append(root) or real(root, *a))
    return calls


# -- the store ---------------------------------------------------------------

def test_a_result_round_trips_and_a_corrupted_entry_is_a_miss_that_is_removed(own_cache):
    results.remember("demo", "k1", {"a": [1, 2]})
    assert results.recall("demo", "k1") == {"a": [1, 2]}
    assert results.recall("demo", "other") is None
    path = own_cache / "results" / "demo" / "k1.json"
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"[1,2]", b"[1,3]"))  # still JSON, but not what was written
    assert results.recall("demo", "k1") is None and not path.exists()
    results.remember("demo", "k1", {"a": [1, 2]})
    path.write_bytes(raw[: len(raw) // 2])  # cut short
    assert results.recall("demo", "k1") is None and not path.exists()


def test_a_tree_identity_changes_with_any_entry_and_not_otherwise(tmp_path):
    tree = make_bundle(tmp_path / "t")
    first = tree_identity(tree)
    assert tree_identity(tree) == first
    (tree / ".fcslim" / "notes.json").write_text("{}")  # records are not the tree
    assert tree_identity(tree) == first
    # A small file only this tree has counts by its content: the same bytes
    # written again are the same tree, other bytes of the same size (and the
    # old modification time) are not.
    target = tree / "alpha" / "core.py"
    st = target.stat()
    data = target.read_bytes()
    target.write_bytes(data)
    assert tree_identity(tree) == first
    target.write_bytes(data[:-1] + b"!")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tree_identity(tree) != first
    target.write_bytes(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tree_identity(tree) == first
    # A file linked from elsewhere (uv's cache, the bundle cache) counts by its
    # identity: rewritten in place, its modification time changes.
    os.link(target, tmp_path / "elsewhere.py")
    linked = tree_identity(tree)
    target.write_bytes(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert tree_identity(tree) != linked
    (tree / "alpha" / "core.py").rename(tree / "alpha" / "core2.py")
    assert tree_identity(tree) not in (first, linked)


# -- fcslim's own code digest --------------------------------------------------

def test_the_code_digest_is_remembered_by_file_identities_and_heals(own_cache):
    expected = codeid.fcslim_digest(codeid.PACKAGE, codeid.data_dir())
    codeid.own_code_digest.cache_clear()
    assert codeid.own_code_digest() == expected
    [entry] = entries(own_cache, codeid.KIND)
    entry.write_text("0" * 64 + "\n\"" + "f" * 64 + "\"")  # a digest line that does not match
    codeid.own_code_digest.cache_clear()
    assert codeid.own_code_digest() == expected
    assert json.loads(entry.read_bytes().split(b"\n", 1)[1]) == expected  # written again


# -- the size measurement ----------------------------------------------------------

def test_an_unchanged_tree_is_measured_once_with_the_same_report(own_cache, bundle, monkeypatch, quiet):
    calls = counting_measure(monkeypatch)
    first = build_report(bundle, FC)
    again = build_report(bundle, FC)
    assert len(calls) == 1
    assert again.to_dict(include_files=True) == first.to_dict(include_files=True)
    assert [vars(d) for d in again.distributions] == [vars(d) for d in first.distributions]
    layer = build_report(bundle, FC, layout="layer")  # another zip: measured for itself
    assert len(calls) == 2 and layer.zip_bytes != first.zip_bytes


def test_a_changed_file_is_never_served_from_an_older_measurement(own_cache, bundle, monkeypatch, quiet):
    calls = counting_measure(monkeypatch)
    before = build_report(bundle, FC)
    write(bundle / "alpha" / "table.dat", pseudo_random(9000, 7))  # was 7000 bytes
    after = build_report(bundle, FC)
    assert len(calls) == 2
    assert after.totals.bytes == before.totals.bytes + 2000
    sizes = {f.path: f.bytes for f in after.files}
    assert sizes["alpha/table.dat"] == 9000
    # Other bytes of the same size under the old modification time: measured again.
    st = (bundle / "alpha" / "table.dat").stat()
    (bundle / "alpha" / "table.dat").write_bytes(b"\0" * 9000)
    os.utime(bundle / "alpha" / "table.dat", ns=(st.st_atime_ns, st.st_mtime_ns))
    build_report(bundle, FC)
    assert len(calls) == 3


def test_changed_records_are_a_new_measurement(own_cache, bundle, monkeypatch, quiet):
    calls = counting_measure(monkeypatch)
    build_report(bundle, FC)
    record = bundle / ".fcslim" / "libraries.json"
    data = json.loads(record.read_text())
    data["fetched"][0]["package"] = "libfoo-renamed"
    record.write_text(json.dumps(data))
    report = build_report(bundle, FC)
    assert len(calls) == 2
    assert "libfoo-renamed" in {d.name for d in report.distributions}


def test_a_corrupted_measurement_is_a_miss_and_is_written_again(own_cache, bundle, monkeypatch, quiet):
    calls = counting_measure(monkeypatch)
    first = build_report(bundle, FC)
    [entry] = entries(own_cache, memo.KIND)
    entry.write_bytes(entry.read_bytes()[:-40])
    assert build_report(bundle, FC).to_dict(include_files=True) == first.to_dict(include_files=True)
    assert len(calls) == 2
    [entry] = entries(own_cache, memo.KIND)
    # A well-formed entry of another shape (an older layout of the document) is a miss too.
    body = json.dumps({"files": "not rows"}).encode()
    from blake3 import blake3
    entry.write_bytes(blake3(body).hexdigest().encode() + b"\n" + body)
    assert build_report(bundle, FC).zip_bytes == first.zip_bytes
    assert len(calls) == 3
    build_report(bundle, FC)
    assert len(calls) == 3


# -- the ELF load check ----------------------------------------------------------------

@pytest.fixture(scope="module")
def needy(tmp_path_factory, gcc) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("elf-parts")
    return {"nowhere": build_shared_library(d / "a.so", needed=["libnowhere.so.7"]),
            "elsewhere": build_shared_library(d / "b.so", needed=["libelsewhere.so.3"])}


def place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def test_an_unchanged_tree_is_analysed_once(own_cache, tmp_path, needy, monkeypatch):
    place(needy["nowhere"], tmp_path / "tree" / "pkg" / "_ext.so")
    calls = []
    real = graph.analyse
    monkeypatch.setattr(graph, "analyse", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = load_findings(tmp_path / "tree", FC)
    again = load_findings(tmp_path / "tree", FC)
    assert len(calls) == 1 and not first.remembered and again.remembered
    assert again.missing == first.missing == [MissingLibrary("libnowhere.so.7", ("pkg/_ext.so",))]
    assert again.unloadable == first.unloadable == []
    load_findings(tmp_path / "tree", load_profile("debian12-python3.11"))  # another target: analysed for it
    assert len(calls) == 2


def test_a_replaced_library_is_analysed_again(own_cache, tmp_path, needy, monkeypatch):
    tree = tmp_path / "tree"
    place(needy["nowhere"], tree / "pkg" / "_ext.so")
    assert [m.soname for m in load_findings(tree, FC).missing] == ["libnowhere.so.7"]
    (tree / "pkg" / "_ext.so").unlink()
    place(needy["elsewhere"], tree / "pkg" / "_ext.so")  # same path, new file
    found = load_findings(tree, FC)
    assert not found.remembered and [m.soname for m in found.missing] == ["libelsewhere.so.3"]
    (tree / "pkg" / "_ext.so").rename(tree / "pkg" / "_ext2.so")  # renamed: new paths in the answer
    assert load_findings(tree, FC).missing[0].needed_by == ("pkg/_ext2.so",)


def test_a_corrupted_load_check_is_a_miss(own_cache, tmp_path, needy):
    place(needy["nowhere"], tmp_path / "tree" / "pkg" / "_ext.so")
    first = load_findings(tmp_path / "tree", FC)
    [entry] = entries(own_cache, loadcheck.KIND)
    entry.write_bytes(entry.read_bytes().replace(b"libnowhere", b"libsomewhe"))
    again = load_findings(tmp_path / "tree", FC)
    assert not again.remembered and again.missing == first.missing
    assert load_findings(tmp_path / "tree", FC).remembered


# -- uv's answers about itself --------------------------------------------------------------

def test_uv_probes_are_remembered_per_binary(own_cache, tmp_path):
    from fcslim.resolve import uv as driver

    runs = tmp_path / "runs"
    fake = tmp_path / "uv"
    fake.write_text(f"#!/bin/sh\necho x >> {runs}\n"
                    "case \"$1\" in --version) echo 'uv 9.9.9 (fake)';; *) echo 'x86_64-manylinux_2_17 "
                    "x86_64-manylinux_2_28';; esac\n")
    fake.chmod(0o755)

    def ask():
        driver.uv_version.cache_clear()
        driver.uv_manylinux_minors.cache_clear()
        return driver.uv_version(str(fake)), driver.uv_manylinux_minors(str(fake))

    driver.uv_manylinux_minors.cache_clear()
    assert driver.uv_manylinux_minors(str(fake)) == (17, 28)
    assert len(runs.read_text().split()) == 2 and entries(own_cache, "uv-version")  # the version asked with it
    assert ask() == ("9.9.9", (17, 28))
    assert ask() == ("9.9.9", (17, 28)) and len(runs.read_text().split()) == 2  # asked once each
    fake.write_text(fake.read_text().replace("9.9.9", "9.9.10"))  # another binary at the same path
    assert ask()[0] == "9.9.10" and len(runs.read_text().split()) == 4
    for entry in entries(own_cache, "uv-version"):
        entry.write_text("garbage")
    assert ask()[0] == "9.9.10" and len(runs.read_text().split()) == 5


# -- in a build --------------------------------------------------------------------------

def build_options(tmp_path: Path, links: Path, uv_cache: Path, **kw) -> BuildOptions:
    (tmp_path / "requirements.txt").write_text("needs-backport\nstable\n")
    for stage in ("fetch", "slim", "verify"):
        kw.setdefault(stage, False)
    return BuildOptions(requirements=tmp_path / "requirements.txt", profile=FC, output=tmp_path / "build",
                        install=InstallOptions(no_index=True, find_links=(str(links),), cache_dir=uv_cache), **kw)


def test_the_first_warm_rebuild_measures_nothing(own_cache, tmp_path, links, cache, monkeypatch, quiet):
    """The bundle cache takes the measured tree's files (links, write bits
    off): the measurement is remembered under those identities too."""
    calls = counting_measure(monkeypatch)
    cold = build(build_options(tmp_path, links, cache))
    assert not cold.cached and len(calls) == 1
    assert len(entries(own_cache, memo.KIND)) == 1  # kept once: under the identities the cache gave the files
    warm = build(build_options(tmp_path, links, cache))
    assert warm.cached and len(calls) == 1
    assert warm.report.to_dict(include_files=True)["files"] == cold.report.to_dict(include_files=True)["files"]


def test_a_warm_install_stage_analyses_and_measures_nothing(own_cache, tmp_path, links, cache, monkeypatch, quiet):
    """uv links an unchanged install out of its cache (and writes RECORD and
    INSTALLER afresh, identified by content): the load check and the
    measurement are remembered; a changed wheel set is worked out again."""
    measured = counting_measure(monkeypatch)
    analysed = []
    real = graph.analyse
    monkeypatch.setattr(graph, "analyse", lambda *a, **k: analysed.append(a) or real(*a, **k))
    for _ in range(2):
        build(build_options(tmp_path, links, cache, cache=False))
    assert len(measured) == 1 and len(analysed) == 1
    (tmp_path / "requirements.txt").write_text("stable\n")
    build(BuildOptions(requirements=tmp_path / "requirements.txt", profile=FC, output=tmp_path / "build",
                       install=InstallOptions(no_index=True, find_links=(str(links),), cache_dir=cache),
                       fetch=False, slim=False, verify=False, cache=False))
    assert len(measured) == 2 and len(analysed) == 2


def test_a_fifo_in_a_tree_is_never_opened(tmp_path):
    tree = tmp_path / "t"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("x = 1\n")
    os.mkfifo(tree / "pkg" / "pipe")  # opening it to read would wait for a writer forever
    first = tree_identity(tree)
    (tree / "pkg" / "pipe").unlink()
    assert tree_identity(tree) != first


# -- a user's profile ----------------------------------------------------------------------

def test_a_valid_profile_is_remembered_and_an_invalid_one_never(own_cache, monkeypatch):
    from fcslim.target import schema

    raw = json.loads(json.dumps(FC.to_dict()))
    raw.pop("name", None)
    raw.pop("source", None)
    checked = []
    real = schema._validate  # noqa: SLF001 - the validator behind the memo, counted
    monkeypatch.setattr(schema, "_validate", lambda r: checked.append(1) or real(r))
    assert schema.schema_problems(raw) == [] and schema.schema_problems(raw) == []
    assert len(checked) == 1
    bad = dict(raw, python_paht="3.10")
    assert schema.schema_problems(bad) and schema.schema_problems(bad)  # refused each time, never remembered
    assert len(checked) == 3
    for entry in entries(own_cache, schema.VALID_KIND):
        entry.write_text("not json")
    assert schema.schema_problems(raw) == [] and len(checked) == 4  # a corrupted entry: checked again
