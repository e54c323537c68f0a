"""Bytecode warm-up beside import checks (fcslim/verify/warmup.py, warm_child.py):
the check's results are the same with and without it, nothing is written into
the bundle, a failing warmer changes nothing, tracing still sees every file."""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from fcslim.target.profile import load_profile
from fcslim.verify import imports, interpreters, warm_child, warmup

from tests.support.slim_trees import host_profile

# Imported last (sorted names): waits until the warmer has compiled alpha/gamma.py
# into the check's cache, so a check that passes it proves a warmer ran.
WAIT_FOR_WARMER = """
import os, sys, time
prefix = getattr(sys, "pycache_prefix", None)
if prefix is None:
    raise RuntimeError("no warmed pyc: the check has no cache")
here = os.path.dirname(os.path.abspath(__file__))
want = os.path.join(prefix, here.lstrip("/"), "alpha", "gamma." + sys.implementation.cache_tag + ".pyc")
deadline = time.time() + 30
while not os.path.exists(want) and time.time() < deadline:
    time.sleep(0.01)
if not os.path.exists(want):
    raise RuntimeError("no warmed pyc at " + want)
"""


IDLE = warmup.idle


@pytest.fixture(autouse=True)
def warmers_at_normal_priority(monkeypatch):
    """At idle priority a warmer may wait long on a busy test machine; the
    tests that wait for one would then be slow (idle() has its own test)."""
    monkeypatch.setattr(warmup, "idle", lambda pid: None)


def test_a_warmer_runs_at_idle_priority():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        IDLE(proc.pid)
        assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
    finally:
        proc.kill()
        proc.wait()


def write_bundle(root: Path) -> Path:
    files = {
        "alpha/__init__.py": "from . import beta\nfrom .gamma import VALUE\n",
        "alpha/beta.py": "import json\n",
        "alpha/gamma.py": "VALUE = 1\n",
        "bad_syntax.py": "def broken(:\n    pass\n",
        "fails.py": "import alpha\nraise RuntimeError('boom at import')\n",
        "needs_missing.py": "import not_installed_anywhere\n",
        "zcrash.py": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
        "zlast.py": "from alpha import beta\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def host_verifier(warm: bool) -> imports.HostVerifier:
    verifier = imports.make_verifier(host_profile(), sys.executable)
    assert isinstance(verifier, imports.HostVerifier)
    verifier.warm_up = verifier.warmer = warm  # a warmer even without a spare CPU
    return verifier


def results(result: imports.VerifyResult) -> dict:
    return {name: (check.ok, check.error) for name, check in result.modules.items()}


def test_same_results_with_and_without_warm_up_and_nothing_written(tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    before = snapshot(bundle)
    modules = imports.top_level_modules(bundle)
    cold = host_verifier(False).check(bundle, modules)
    warm_verifier = host_verifier(True)
    warm = warm_verifier.check(bundle, modules)
    again = warm_verifier.check(bundle, modules)  # the cache is kept for the verifier's later checks
    assert results(warm) == results(cold) == results(again)
    assert warm.passed == ["alpha", "zlast"]
    assert warm.modules["bad_syntax"].error.startswith("SyntaxError")
    assert warm.modules["fails"].error == "RuntimeError: boom at import"
    assert "not_installed_anywhere" in warm.modules["needs_missing"].error
    assert "killed the interpreter (signal 11)" in warm.modules["zcrash"].error
    assert snapshot(bundle) == before  # no __pycache__, no file changed
    cache = warm_verifier.pycache.path
    assert cache.is_dir() and not str(cache).startswith(str(bundle))
    warm_verifier.pycache.remove()
    assert not cache.exists()


def test_the_warmer_fills_the_cache_while_the_check_runs(tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    (bundle / "zzz_wait.py").write_text(WAIT_FOR_WARMER)
    verifier = host_verifier(True)
    result = verifier.check(bundle, ["alpha", "zzz_wait"])
    assert result.passed == ["alpha", "zzz_wait"], result.modules
    found = {p.name for p in verifier.pycache.path.rglob("*.pyc")}
    tag = sys.implementation.cache_tag
    assert {f"gamma.{tag}.pyc", f"beta.{tag}.pyc", f"__init__.{tag}.pyc"} <= found
    assert not list(bundle.rglob("__pycache__"))


def test_without_a_spare_cpu_the_first_check_is_as_before_and_later_ones_read_its_pycs(tmp_path, monkeypatch):
    monkeypatch.setattr(warmup, "spare_cpu", lambda: False)
    bundle = write_bundle(tmp_path / "bundle")
    modules = imports.top_level_modules(bundle)
    verifier = imports.make_verifier(host_profile(), sys.executable)
    launched = []
    real_popen = warmup.subprocess.Popen
    def popen(argv, *args, **kwargs):  # subprocess.run's too: only the warmer's own program is counted
        if warmup.child_source() in argv and "--seed" not in argv:
            launched.append(argv)
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(warmup.subprocess, "Popen", popen)
    first = verifier.check(bundle, modules)
    assert verifier.pycache is None and not launched
    second = verifier.check(bundle, modules)
    assert results(second) == results(first) and not launched  # no warmer: the check wrote them
    tag = sys.implementation.cache_tag
    written = {p.name for p in verifier.pycache.path.rglob("*.pyc") if not p.is_symlink()}
    assert {f"gamma.{tag}.pyc", f"zlast.{tag}.pyc"} <= written and not list(bundle.rglob("__pycache__"))


def test_without_warm_up_the_same_check_has_no_cache(tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    (bundle / "zzz_wait.py").write_text(WAIT_FOR_WARMER)
    result = host_verifier(False).check(bundle, ["alpha", "zzz_wait"])
    assert result.failed == ["zzz_wait"] and "no warmed pyc" in result.modules["zzz_wait"].error


@pytest.mark.parametrize("program", ["import os; os._exit(3)", "raise SystemExit(1)",
                                     "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
                                     "import time; time.sleep(600)"])
def test_a_failing_or_hanging_warmer_changes_nothing(tmp_path, monkeypatch, program):
    bundle = write_bundle(tmp_path / "bundle")
    modules = imports.top_level_modules(bundle)
    expected = results(host_verifier(False).check(bundle, modules))
    started = []
    real_popen = warmup.subprocess.Popen
    monkeypatch.setattr(warmup, "warmer_argv", lambda python, flags, *rest: [python, *flags, "-c", program])

    def popen(argv, *args, **kwargs):  # subprocess.run's too: only warmers are kept
        proc = real_popen(argv, *args, **kwargs)
        if program in argv:
            started.append(proc)
        return proc

    monkeypatch.setattr(warmup.subprocess, "Popen", popen)
    assert results(host_verifier(True).check(bundle, modules)) == expected
    assert started and all(proc.poll() is not None for proc in started)  # every warmer ended with its check


def test_a_seeding_that_fails_or_hangs_turns_warm_up_off(tmp_path, monkeypatch):
    bundle = write_bundle(tmp_path / "bundle")
    modules = imports.top_level_modules(bundle)
    expected = results(host_verifier(False).check(bundle, modules))
    monkeypatch.setattr(warmup, "SEEDING", 1)
    for program in ("raise SystemExit(2)", "import time; time.sleep(60)"):
        monkeypatch.setattr(warmup, "seed_argv", lambda python, flags, prefix: [python, *flags, "-c", program])
        verifier = host_verifier(True)
        assert results(verifier.check(bundle, modules)) == expected
        assert verifier.pycache is None and not verifier.warm_up


def test_a_warmer_that_cannot_start_changes_nothing(tmp_path, monkeypatch):
    bundle = write_bundle(tmp_path / "bundle")
    modules = imports.top_level_modules(bundle)
    expected = results(host_verifier(False).check(bundle, modules))

    real_popen = warmup.subprocess.Popen

    def refuse(argv, *args, **kwargs):
        if warmup.child_source() in argv:
            raise OSError("no more processes")
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(warmup.subprocess, "Popen", refuse)
    assert results(host_verifier(True).check(bundle, modules)) == expected


def test_a_killed_runs_cache_is_swept_by_the_next(tmp_path, monkeypatch):
    from fcslim.core.runs import run_proof

    monkeypatch.setattr(warmup, "memory_dir", lambda: str(tmp_path))
    dead = dict(run_proof(), pid=2 ** 22 + 17)  # no such process
    for name, proof in (("fcslim-pycache-dead", dead), ("fcslim-pycache-alive", run_proof())):
        (tmp_path / name).mkdir()
        (tmp_path / name / warmup.RUN_RECORD).write_text(json.dumps(proof))
    (tmp_path / "fcslim-pycache-unknown").mkdir()  # no record: not ours to judge
    cache = warmup.PycachePrefix()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["fcslim-pycache-alive", "fcslim-pycache-unknown", cache.path.name])
    cache.remove()
    assert not cache.path.exists()


def test_a_source_changed_after_it_was_warmed_is_imported_as_it_is_now(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "changing.py").write_text("VALUE = 1\n")
    verifier = host_verifier(True)
    assert verifier.check(bundle, ["changing"]).passed == ["changing"]
    source = str((bundle / "changing.py").resolve())
    prefix = verifier.pycache.path
    stale = importlib.util.cache_from_source(source).replace(os.path.dirname(source) + "/__pycache__",
                                                             str(prefix) + os.path.dirname(source))
    py_compile.compile(source, cfile=stale, doraise=True)  # a warmed pyc of the old text
    (bundle / "changing.py").write_text("raise ImportError('the new text runs')\n")
    assert verifier.check(bundle, ["changing"]).modules["changing"].error == "ImportError: the new text runs"


def test_tracing_sees_files_a_warmed_check_would_not_open(tmp_path):
    """A module whose import fails inside a try is not in sys.modules and,
    read through a pyc, its source is not opened: a traced check counts the
    pyc it read from the cache as its source."""
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    (bundle / "pkg" / "__init__.py").write_text("try:\n    from . import optional\nexcept ImportError:\n    pass\n")
    (bundle / "pkg" / "optional.py").write_text("raise ImportError('not here')\n")
    verifier = host_verifier(True)
    assert verifier.check(bundle, ["pkg"]).passed == ["pkg"]
    source = str((bundle / "pkg" / "optional.py").resolve())
    py_compile.compile(source, cfile=str(verifier.pycache.path) + source[:-3] + f".{sys.implementation.cache_tag}.pyc",
                       doraise=True)
    traced = verifier.check(bundle, ["pkg"], trace=True)
    assert {"pkg/__init__.py", "pkg/optional.py"} <= set(traced.touched)
    untraced_cache = host_verifier(False)
    assert set(untraced_cache.check(bundle, ["pkg"], trace=True).touched) == set(traced.touched)


def test_no_warm_up_before_python_3_8(tmp_path):
    interp = interpreters.Interpreter(sys.executable, (3, 7, 17), "cpython", "cpython-37", "x86_64", "")
    verifier = imports.HostVerifier(load_profile("aws-python3.11"), interp)
    assert verifier.warm_cache() is None and verifier.child_args() == []
    assert warmup.supported((3, 8)) and not warmup.supported((3, 6, 15))


def test_seeding_links_the_interpreters_own_pycs(tmp_path, monkeypatch):
    library = tmp_path / "lib"
    (library / "pkg" / "__pycache__").mkdir(parents=True)
    (library / "pkg" / "__init__.py").write_text("")
    tag = sys.implementation.cache_tag
    (library / "pkg" / "__pycache__" / f"__init__.{tag}.pyc").write_bytes(b"pyc")
    (library / "pkg" / "__pycache__" / f"__init__.{tag}.opt-1.pyc").write_bytes(b"opt")
    (library / "site-packages" / "other" / "__pycache__").mkdir(parents=True)  # not a package: not importable
    (library / "site-packages" / "other" / "__pycache__" / f"x.{tag}.pyc").write_bytes(b"no")
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "path", [str(library)])
    warm_child.seed(str(prefix) + "/")
    linked = prefix / str(library).lstrip("/") / "pkg" / f"__init__.{tag}.pyc"
    assert linked.is_symlink() and linked.read_bytes() == b"pyc"
    assert sorted(p.name for p in prefix.rglob("*.pyc")) == [linked.name]


def scan(root: Path, modules: list[str]) -> list[str]:
    order = warm_child.predicted([str(root)], modules)
    return [str(Path(p).relative_to(root)) for p in order if p.startswith(str(root))]


def test_the_scan_follows_module_level_imports_in_order(tmp_path):
    files = {
        "app/__init__.py": (
            "import app.first\n"
            "from .second import (\n    thing,\n    sub,\n)\n"
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from app import typing_only\n"
            "try:\n    from . import in_try\nexcept ImportError:\n    pass\n"
            "def later(\n    a,\n):\n    from app import lazy\n    import app.lazy2\n"
            "class Kept:\n    import app.class_body\n    def method(self):\n        import app.lazy3\n"
            "if __name__ == '__main__':\n    import app.main_only\n"
            "from app import *\n"
        ),
        "app/first.py": "from . import deep\n",
        "app/deep.py": "",
        "app/second/__init__.py": "",
        "app/second/sub.py": "",
        "app/in_try.py": "", "app/class_body.py": "", "app/typing_only.py": "", "app/lazy.py": "",
        "app/lazy2.py": "", "app/lazy3.py": "", "app/main_only.py": "",
        "app/ext.cpython-311-x86_64-linux-gnu.so": "", "app/ext.py": "",
        "other.py": "import app.ext\nimport app\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert scan(tmp_path, ["app", "other"]) == [
        "app/__init__.py", "app/first.py", "app/deep.py", "app/second/__init__.py", "app/second/sub.py",
        "app/in_try.py", "app/class_body.py", "other.py",
    ]  # the extension module wins over app/ext.py, as in the importer


def test_relative_imports_resolve_against_the_package():
    assert warm_child.absolute("..x", "a.b.c") == "a.b.x"
    assert warm_child.absolute(".", "a") == "a"
    assert warm_child.absolute("...", "a") is None
    assert warm_child.absolute("os", "a.b") == "os"


@pytest.mark.rootfs
def test_same_results_with_and_without_warm_up_in_a_clean_root(tmp_path, bullseye_root):
    bundle = write_bundle(tmp_path / "bundle")
    (bundle / "zzz_wait.py").write_text(WAIT_FOR_WARMER)
    before = snapshot(bundle)
    profile = load_profile("debian11-python3.9")
    modules = imports.top_level_modules(bundle)
    cold_verifier = imports.RootVerifier(profile, bullseye_root)
    cold_verifier.warm_up = False
    cold = cold_verifier.check(bundle, modules)
    verifier = imports.RootVerifier(profile, bullseye_root)
    verifier.warmer = True
    warm = verifier.check(bundle, modules)
    assert warm.python.startswith("3.9")
    assert results(warm) == {**results(cold), "zzz_wait": (True, None)}
    assert "no warmed pyc" in cold.modules["zzz_wait"].error
    assert {"alpha", "zlast", "zzz_wait"} == set(warm.passed)
    assert snapshot(bundle) == before
    assert any(p.is_symlink() for p in verifier.pycache.path.joinpath("usr", "lib").rglob("*.pyc"))  # seeded
    assert (verifier.pycache.path / str(bundle).lstrip("/")).exists() is False  # pycs are named as /code sees them
    assert list((verifier.pycache.path / "code" / "alpha").glob("gamma.cpython-39.pyc"))
    traced = verifier.check(bundle, ["alpha", "fails"], trace=True)  # reads the cache
    assert set(traced.touched) == set(cold_verifier.check(bundle, ["alpha", "fails"], trace=True).touched)
    assert {"alpha/__init__.py", "alpha/beta.py", "alpha/gamma.py", "fails.py"} <= set(traced.touched)


# -- the first check's warmer, started early ----------------------------------

def count_warmers(monkeypatch) -> list:
    """Every warmer process started from now on (seeding runs not counted)."""
    started = []
    real_popen = warmup.subprocess.Popen

    def popen(argv, *args, **kwargs):
        proc = real_popen(argv, *args, **kwargs)
        if warmup.child_source() in argv and "--seed" not in argv:
            started.append(proc)
        return proc

    monkeypatch.setattr(warmup.subprocess, "Popen", popen)
    return started


def warmed_pyc(verifier: imports.Verifier, source: Path) -> Path:
    source = str(source.resolve())
    return Path(str(verifier.pycache.path) + os.path.dirname(source)) / (
        Path(source).stem + f".{sys.implementation.cache_tag}.pyc")


def wait_for(path: Path, seconds: float = 30) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.exists(), f"the early warmer never wrote {path}"


def test_an_early_warmer_fills_the_cache_and_the_first_check_takes_it_over(tmp_path, monkeypatch):
    monkeypatch.setattr(warmup, "spare_cpu", lambda: False)  # as on two CPUs: no warmer of the check's own
    demoted = []
    monkeypatch.setattr(warmup, "idle", demoted.append)
    bundle = write_bundle(tmp_path / "bundle")
    modules = imports.top_level_modules(bundle)
    expected = results(host_verifier(False).check(bundle, modules))
    before = snapshot(bundle)
    verifier = imports.make_verifier(host_profile(), sys.executable)
    started = count_warmers(monkeypatch)
    assert verifier.warm_early(bundle, modules)
    assert len(started) == 1
    wait_for(warmed_pyc(verifier, bundle / "alpha" / "gamma.py"))
    assert results(verifier.check(bundle, modules)) == expected
    assert len(started) == 1 and started[0].poll() is not None  # taken over, then ended with the check
    assert demoted == [] and verifier.early is None  # at normal priority throughout
    assert results(verifier.check(bundle, modules)) == expected and len(started) == 1  # none for later checks
    assert snapshot(bundle) == before
    assert not verifier.warm_early(bundle, modules)  # only before the first check


def test_a_file_removed_after_the_early_warmer_compiled_it_is_not_imported(tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    verifier = host_verifier(True)
    assert verifier.warm_early(bundle, ["alpha"])
    gamma = bundle / "alpha" / "gamma.py"
    wait_for(warmed_pyc(verifier, gamma))
    gamma.unlink()  # as slim removes a file after the warmer compiled it
    result = verifier.check(bundle, ["alpha"])
    assert result.modules["alpha"].error == "ModuleNotFoundError: No module named 'alpha.gamma'"


def test_an_early_warmer_no_check_took_over_is_stopped(tmp_path, monkeypatch):
    bundle = write_bundle(tmp_path / "bundle")
    monkeypatch.setattr(warmup, "warmer_argv",
                        lambda python, flags, *rest: [python, *flags, "-c", "import time; time.sleep(600)"])
    started = []
    real_popen = warmup.subprocess.Popen
    monkeypatch.setattr(warmup.subprocess, "Popen",
                        lambda argv, *a, **k: started.append(real_popen(argv, *a, **k)) or started[-1])
    verifier = host_verifier(True)
    assert verifier.warm_early(bundle, ["alpha"])
    sleeper = [p for p in started if "time.sleep(600)" in p.args[-1]]
    assert len(sleeper) == 1 and sleeper[0].poll() is None
    verifier.stop_early()
    assert sleeper[0].poll() is not None and verifier.early is None
    verifier.stop_early()  # twice: nothing left to do


def test_no_early_warmer_without_warm_up_or_for_a_kind_without_warmers(tmp_path, monkeypatch):
    bundle = write_bundle(tmp_path / "bundle")
    started = count_warmers(monkeypatch)
    assert not host_verifier(False).warm_early(bundle, ["alpha"])
    interp = interpreters.Interpreter(sys.executable, (3, 7, 17), "cpython", "cpython-37", "x86_64", "")
    assert not imports.HostVerifier(load_profile("aws-python3.11"), interp).warm_early(bundle, ["alpha"])

    class Elsewhere(imports.Verifier):  # a check somewhere fcslim has no warmer for (a container image)
        def _run(self, bundle, modules):
            return 0, "", ""

    assert not Elsewhere(host_profile()).warm_early(bundle, ["alpha"])
    assert started == []


@pytest.mark.rootfs
def test_an_early_warmer_in_a_clean_root_fills_what_the_check_reads(tmp_path, bullseye_root, monkeypatch):
    monkeypatch.setattr(warmup, "spare_cpu", lambda: False)
    bundle = write_bundle(tmp_path / "bundle")
    before = snapshot(bundle)
    profile = load_profile("debian11-python3.9")
    modules = imports.top_level_modules(bundle)
    cold_verifier = imports.RootVerifier(profile, bullseye_root)
    cold_verifier.warm_up = False
    expected = results(cold_verifier.check(bundle, modules))
    verifier = imports.RootVerifier(profile, bullseye_root)
    assert verifier.prepare_warm_up() is not None  # seeded, as a build's set-up does while uv installs
    assert verifier.warm_early(bundle, ["alpha"])
    warmer = verifier.early
    wait_for(verifier.pycache.path / "code" / "alpha" / "gamma.cpython-39.pyc")  # named as /code sees it
    assert results(verifier.check(bundle, modules)) == expected
    assert warmer.proc.returncode is not None and verifier.early is None
    assert snapshot(bundle) == before
