"""The split layout's loader, for real: a dependency zip served over HTTP on
127.0.0.1, fetched, verified, unpacked and preloaded, on the host and in a
clean Debian 11 root with two cold starts at once."""

from __future__ import annotations

import ast
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from fcslim.pack import loader_template as lt
from fcslim.pack.loader import loader_source, preload_order
from tests.support.split_world import BULLSEYE, CALC, RACE, CountingHandler, served, split  # noqa: F401  (fixtures)

def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if not p.name.endswith(".lock"))


def test_preload_order_puts_dependencies_first(split):
    assert split["result"].preload == ["lib/libzdep.so.1", "lib/libatop.so"]
    assert split["config"]["preload"] == ["lib/libzdep.so.1", "lib/libatop.so"]
    assert split["config"]["preload_order"] == "libgraph"
    order, source, note = preload_order(split["bundle"], None, ["lib/libatop.so", "lib/libzdep.so.1", "calc/__init__.py"])
    assert (order, source) == (["lib/libatop.so", "lib/libzdep.so.1"], "lexical") and "lexical order" in note


def test_install_fetches_verifies_and_unpacks_once(split, tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_DEPS_URL", split["url"])
    CountingHandler.hits.clear()
    base = lt.install(split["config"], tmp_dir=str(tmp_path))
    assert base == str(tmp_path / f"fcslim-deps-{split['config']['sha256']}")
    assert (Path(base) / "calc" / "__init__.py").read_text() == CALC
    assert (Path(base) / "lib" / "libatop.so").read_bytes() == (split["bundle"] / "lib" / "libatop.so").read_bytes()
    assert leftovers(tmp_path) == [Path(base).name]  # no .part, no staging directory
    assert lt.install(split["config"], tmp_dir=str(tmp_path)) == base
    assert CountingHandler.hits == ["/fn.deps.zip"]  # the second cold start reused the tree


def test_a_corrupted_download_is_rejected_and_nothing_is_kept(split, tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_DEPS_URL", split["bad_url"] + "?X-Signature=secret")
    with pytest.raises(lt.DependencyLoadError, match="does not match") as caught:
        lt.install(split["config"], tmp_dir=str(tmp_path))
    assert "secret" not in str(caught.value)  # presigned credentials are not printed
    assert leftovers(tmp_path) == []


def test_no_url_is_a_clear_error(split, tmp_path, monkeypatch):
    monkeypatch.delenv("FCSLIM_DEPS_URL", raising=False)
    with pytest.raises(lt.DependencyLoadError, match="set the environment variable FCSLIM_DEPS_URL"):
        lt.install(split["config"], tmp_dir=str(tmp_path))


def test_a_member_escaping_the_tree_is_refused(split, tmp_path, monkeypatch):
    evil = split["www"] / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok.py", "x = 1\n")
        zf.writestr("../escaped.py", "boom\n")
    import hashlib

    config = dict(split["config"], sha256=hashlib.sha256(evil.read_bytes()).hexdigest(), size=evil.stat().st_size)
    monkeypatch.setenv("FCSLIM_DEPS_URL", f"{split['base']}/evil.zip")
    work = tmp_path / "tmp"
    work.mkdir()
    with pytest.raises(lt.DependencyLoadError, match="outside its directory"):
        lt.install(config, tmp_dir=str(work))
    assert leftovers(work) == [] and not (tmp_path / "escaped.py").exists()


def test_losing_the_rename_race_uses_the_winners_tree(split, tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_DEPS_URL", split["url"])
    final = tmp_path / f"fcslim-deps-{split['config']['sha256']}"
    real_extract = lt._extract

    def extract_then_lose(archive, into):
        real_extract(archive, into)
        final.mkdir()  # another instance finished first
        (final / "winner").write_text("")
        (final / lt.COMPLETE_MARKER).write_text("complete\n")

    monkeypatch.setattr(lt, "_extract", extract_then_lose)
    assert lt.install(split["config"], tmp_dir=str(tmp_path), use_lock=False) == str(final)
    assert (final / "winner").exists() and leftovers(tmp_path) == [final.name]


def test_the_loader_is_python36_and_stdlib_only():
    source = loader_source()
    tree = ast.parse(source, feature_version=(3, 6))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
        assert not isinstance(node, ast.NamedExpr)
        assert not (isinstance(node, ast.FormattedValue)), "f-strings are 3.6 but keep the loader plain"
    assert imported <= set(sys.stdlib_module_names)
    assert "from __future__" not in source


def test_load_on_the_host_imports_a_package_that_needs_the_preload(split, tmp_path):
    import subprocess

    env = {**os.environ, "FCSLIM_DEPS_URL": split["url"], "FCSLIM_DEPS_TMP": str(tmp_path),
           "PYTHONPATH": str(split["code"])}
    env.pop("LD_LIBRARY_PATH", None)
    probe = ("import sys, fcslim_loader, calc; print(calc.value()); "
             "print(sys.path.index(fcslim_loader.load()) - sys.path.index(sys.argv[1]))")
    run = subprocess.run([sys.executable, "-c", probe, str(split["code"])],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["42", "1"]  # right after the function's code directory
    # Without the loader the same import fails: the preload is what makes it work.
    env["PYTHONPATH"] = f"{split['code']}:{tmp_path / ('fcslim-deps-' + split['config']['sha256'])}"
    bare = subprocess.run([sys.executable, "-c", "import calc"], capture_output=True, text=True, env=env)
    assert bare.returncode != 0 and "libatop.so" in bare.stderr
    # ...and the order matters: the dependent library first cannot load.
    base = tmp_path / ("fcslim-deps-" + split["config"]["sha256"])
    wrong = subprocess.run([sys.executable, "-c", "import sys; from fcslim.pack import loader_template as lt; "
                            f"lt.preload({str(base)!r}, ['lib/libatop.so', 'lib/libzdep.so.1'])"],
                           capture_output=True, text=True, env={**env, "PYTHONPATH": ""})
    assert wrong.returncode != 0 and "cannot preload lib/libatop.so" in wrong.stderr




@pytest.mark.rootfs
@pytest.mark.parametrize("locking", ["1", "0"], ids=["locked", "racing"])
def test_two_cold_starts_at_once_in_bullseye(split, run_in_bullseye, locking, tmp_path):
    code = tmp_path / "code"
    shutil.copytree(split["code"], code)
    (code / "race.py").write_text(RACE)
    CountingHandler.hits.clear()
    run = run_in_bullseye(code, ["python3", "/code/race.py", "ok"],
                          env={"FCSLIM_DEPS_URL": split["url"], "FCSLIM_LOADER_LOCK": locking})
    assert run.returncode == 0, run.stderr
    assert "PY (3, 9)" in run.stdout  # bullseye's own Python ran the loader
    if locking == "1":
        assert CountingHandler.hits == ["/fn.deps.zip"]  # the second instance waited and reused the tree
    sha = split["config"]["sha256"]
    results = [line for line in run.stdout.splitlines() if line.startswith("RESULT")]
    assert results == [f"RESULT 0 42 /tmp/fcslim-deps-{sha} | "] * 2, run.stdout
    tmp_listing = next(line for line in run.stdout.splitlines() if line.startswith("TMP"))
    left = [n for n in eval(tmp_listing[4:]) if not n.endswith(".lock")]
    assert left == [f"fcslim-deps-{sha}"]  # no staging directory or partial download left behind


@pytest.mark.rootfs
def test_a_corrupted_download_is_rejected_in_bullseye(split, run_in_bullseye, tmp_path):
    code = tmp_path / "code"
    shutil.copytree(split["code"], code)
    (code / "race.py").write_text(RACE)
    run = run_in_bullseye(code, ["python3", "/code/race.py", "bad"], env={"FCSLIM_DEPS_URL": split["bad_url"]})
    assert run.returncode == 0, run.stderr
    results = [line for line in run.stdout.splitlines() if line.startswith("RESULT")]
    assert len(results) == 2
    for line in results:
        assert line.startswith("RESULT 1 ") and "does not match the one packed with this code" in line
    tmp_listing = next(line for line in run.stdout.splitlines() if line.startswith("TMP"))
    assert [n for n in eval(tmp_listing[4:]) if not n.endswith(".lock")] == []


def test_debris_without_the_marker_is_replaced(split, tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_DEPS_URL", split["url"])
    final = tmp_path / f"fcslim-deps-{split['config']['sha256']}"
    (final / "calc").mkdir(parents=True)
    (final / "calc" / "half.py").write_text("")  # an interrupted copy by something else
    assert lt.install(split["config"], tmp_dir=str(tmp_path)) == str(final)
    assert not (final / "calc" / "half.py").exists() and (final / "calc" / "__init__.py").exists()


def test_the_fetch_hook_runs_from_the_unpacked_tree_without_chaining(tmp_path, monkeypatch):
    from fcslim.fetch.hook import SHIM_MARKER

    assert lt.FETCH_HOOK_MARKER == SHIM_MARKER  # the loader recognises what fetch writes
    base = tmp_path / "deps"
    base.mkdir()
    (base / "sitecustomize.py").write_text(
        f"{SHIM_MARKER}\nimport os, sys\nos.environ['FCSLIM_TEST_HOOK'] = repr(sys.path)\n")
    monkeypatch.delenv("FCSLIM_TEST_HOOK", raising=False)
    before = list(sys.path)
    assert lt.run_fetch_hook(str(base)) is True
    assert os.environ["FCSLIM_TEST_HOOK"] == repr([str(base)])  # narrowed while it ran
    assert sys.path == before  # and restored
    (base / "sitecustomize.py").write_text("raise SystemExit('a user hook is not run')\n")
    assert lt.run_fetch_hook(str(base)) is False
    assert lt.run_fetch_hook(str(tmp_path / "nothing")) is False


def test_a_missing_object_fails_at_once_with_the_status(split, tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_DEPS_URL", split["base"] + "/gone.zip?Signature=secret")
    CountingHandler.hits.clear()
    with pytest.raises(lt.DependencyLoadError, match="HTTP 404") as caught:
        lt.install(split["config"], tmp_dir=str(tmp_path))
    assert "secret" not in str(caught.value) and CountingHandler.hits == ["/gone.zip?Signature=secret"]  # no retries
    assert leftovers(tmp_path) == []
