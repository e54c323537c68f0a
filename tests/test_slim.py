"""Slim rules, plans, application, strip and rollback (offline layer)."""

from __future__ import annotations

import ctypes
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.slim import strip as strip_mod
from fcslim.cli import main
from fcslim.elf.facts import read_elf
from fcslim.core.errors import InputError
from fcslim.slim.apply import slim
from fcslim.slim.plan import plan_slim
from fcslim.slim.rollback import find_culprits, guess_culprits
from fcslim.slim.strip import elf_layout
from fcslim.slim.tree import tree_files
from fcslim.target.profile import load_profile
from fcslim.slim.rules import (GlobSet, SlimRuleError, UserRules, default_ruleset, load_rules,
                               load_user_rules)
from fcslim.verify.imports import HostVerifier
from fcslim.verify import interpreters

from tests.support.elffiles import set_machine
from tests.support.slim_trees import add_distribution, build_shared_object, host_profile, make_bundle


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


@pytest.fixture(scope="module")
def profile():
    return host_profile()


@pytest.fixture(scope="module")
def verifier(profile):
    interp = interpreters.find_python(profile, explicit=sys.executable)
    return HostVerifier(profile, interp)


def _plan_files(plan) -> dict[str, list[str]]:
    return {r.name: r.files for r in plan.rules}


# -- globs -------------------------------------------------------------------

@pytest.mark.parametrize("pattern,path,expected", [
    ("tests", "pkg/tests/test_a.py", True),
    ("tests", "tests/x.py", True),
    ("tests", "pkg/mytests/x.py", False),
    ("*.pyi", "a/b/c.pyi", True),
    ("*.pyi", "a/b/c.py", False),
    ("/bin", "bin/pip", True),
    ("/bin", "pkg/bin/tool", False),
    ("numpy/testing/**", "numpy/testing/_private/utils.py", True),
    ("numpy/testing/**", "other/numpy/testing/x.py", False),
    ("/*.dist-info/LICEN[CS]E*", "a-1.dist-info/LICENSE.txt", True),
    ("/*.dist-info/LICEN[CS]E*", "a-1.dist-info/LICENCE", True),
    ("scipy/**/_test_*.so", "scipy/_lib/_test_ccallback.cpython-39-x86_64-linux-gnu.so", True),
    ("scipy/**/_test_*.so", "scipy/_lib/_ccallback_c.so", False),
    ("*.so.*", "pkg.libs/libz-1234.so.1.2.3", True),
])
def test_glob_semantics(pattern, path, expected):
    assert GlobSet([pattern]).matches(path) is expected


def test_default_rules_are_data_with_reasons():
    rules = load_rules()
    names = [r.name for r in rules]
    assert names[0] == "installer-leftovers"
    assert {"test-suites", "native-sources", "type-stubs", "static-libraries", "bin-scripts",
            "dist-info-build-records", "debug-info", "bytecode-caches", "docs-and-examples"} <= set(names)
    for r in rules:
        assert len(r.why) > 40, r.name


def test_bad_rules_file_names_the_problem(tmp_path):
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"rules": [{"name": "x", "why": "because", "kind": "shred"}]}))
    with pytest.raises(SlimRuleError, match="shred"):
        load_rules(bad)


# -- the plan, rule by rule ------------------------------------------------------

def test_plan_each_rule(bundle, profile):
    before = tree_files(bundle)
    plan = plan_slim(bundle, profile)
    files = _plan_files(plan)
    assert tree_files(bundle) == before  # planning changes nothing
    assert files["bytecode-caches"] == ["app/__pycache__/core.cpython-311.pyc"]
    assert set(files["test-suites"]) == {"app/tests/__init__.py", "app/tests/test_core.py",
                                         "app/test_extra.py", "app/conftest.py",
                                         "numpy/_core/tests/test_big.py"}
    assert set(files["docs-and-examples"]) == {"app/docs/index.html", "app/README.md", "app/examples/demo.py"}
    assert set(files["native-sources"]) == {"app/_speed.c", "app/_speed.h", "app/_speed.pyx"}
    assert files["type-stubs"] == ["app/core.pyi"]  # app/sub/__init__.pyi is a lazy_loader stub: kept
    assert files["static-libraries"] == ["app/libfoo.a"]
    assert files["bin-scripts"] == ["bin/app-cli"]  # bin/pip goes with the pip distribution
    dist_info = set(files["dist-info-build-records"])
    assert "app-1.0.dist-info/RECORD" in dist_info and "app-1.0.dist-info/WHEEL" in dist_info
    assert not any(p.endswith(("METADATA", "LICENSE", "top_level.txt")) for p in dist_info)
    # Import-time test code stays.
    everything = {p for r in plan.rules for p in r.files}
    assert "numpy/_core/tests/_natype.py" not in everything
    assert not any(p.startswith("numpy/testing/") for p in everything)
    # Bytes are the sizes of the files.
    for r in plan.rules:
        if r.kind != "strip-debug":
            assert r.bytes == sum(before[p] for p in r.files)
    assert plan.kept["/numpy/_core/tests/_natype.py"] == 1


def test_installer_leftovers_only_when_unused(bundle, profile):
    plan = plan_slim(bundle, profile)
    entry = next(r for r in plan.rules if r.name == "installer-leftovers")
    assert entry.distributions == ["pip 24.0"]
    assert "bin/pip" in entry.files and "pip-24.0.dist-info/METADATA" in entry.files
    assert not any(f.startswith(("setuptools", "pkg_resources")) for f in entry.files)
    assert any("setuptools" in n and "app requires it" in n for n in entry.notes)


def test_installer_needed_through_an_entry_point(tmp_path, profile):
    root = tmp_path / "b"
    add_distribution(root, "wheel", "0.43", {"wheel/__init__.py": ""})
    add_distribution(root, "plug", "1", {"plug/__init__.py": ""},
                     entry_points="[distutils.commands]\nbdist_wheel = wheel.bdist:cmd\n")
    entry = plan_slim(root, profile).rules[0]
    assert entry.files == [] and "entry point of plug" in entry.notes[0]


def test_marker_that_does_not_apply_does_not_keep(tmp_path, profile):
    root = tmp_path / "b"
    add_distribution(root, "wheel", "0.43", {"wheel/__init__.py": ""})
    add_distribution(root, "old", "1", {"old/__init__.py": ""}, requires=["wheel; python_version < '3'"])
    assert plan_slim(root, profile).rules[0].distributions == ["wheel 0.43"]


def test_plan_is_deterministic(bundle, profile):
    a = plan_slim(bundle, profile).to_dict()
    b = plan_slim(bundle, profile).to_dict()
    assert a == b


def test_user_keep_wins_and_user_remove_adds(bundle, profile):
    user = UserRules(keep=("app/tests/test_core.py", "pip"), remove=("app/core.py",), source="test")
    plan = plan_slim(bundle, profile, default_ruleset(user))
    files = _plan_files(plan)
    assert "app/tests/test_core.py" not in files["test-suites"]
    assert "app/tests/__init__.py" not in files["test-suites"]  # package of a kept file
    assert files["user-remove"] == ["app/core.py"]
    assert files["installer-leftovers"] == []  # the user keeps pip


def test_user_keep_beats_user_remove(bundle, profile):
    user = UserRules(keep=("app/core.py",), remove=("app/core.py",), source="test")
    files = _plan_files(plan_slim(bundle, profile, default_ruleset(user)))
    assert files["user-remove"] == []


def test_pyproject_user_rules(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.fcslim]\nkeep = ["a/**"]\nremove = ["*.csv"]\n')
    user = load_user_rules(search_dir=tmp_path)
    assert user.keep == ("a/**",) and user.remove == ("*.csv",)
    assert load_user_rules(search_dir=tmp_path / "nowhere") == UserRules()
    (tmp_path / "bad.toml").write_text('[tool.fcslim]\nkeep = "a"\n')
    with pytest.raises(SlimRuleError, match="list of glob"):
        load_user_rules(tmp_path / "bad.toml")


def test_fetched_system_libraries_are_protected(tmp_path, profile):
    root = tmp_path / "b"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "libfoo.a").write_bytes(b"x" * 10)
    (root / ".fcslim").mkdir()
    (root / ".fcslim" / "libraries.json").write_text(json.dumps({"fetched": [{"path": "lib/libfoo.a"}]}))
    (root / "other.a").write_bytes(b"x")
    assert _plan_files(plan_slim(root, profile))["static-libraries"] == ["other.a"]


# -- applying ---------------------------------------------------------------------

def test_dry_run_changes_nothing_and_prints_each_rule(bundle):
    before = tree_files(bundle)
    runner = CliRunner()
    out = runner.invoke(main, ["slim", str(bundle), "--runtime", "aws-python3.11", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "test-suites" in out.output and "installer-leftovers" in out.output and "Static libraries" in out.output
    js = runner.invoke(main, ["slim", str(bundle), "--runtime", "aws-python3.11", "--dry-run", "--json"])
    data = json.loads(js.output)
    assert {r["name"] for r in data["rules"]} >= {"test-suites", "bin-scripts"}
    assert tree_files(bundle) == before and not (bundle / ".fcslim").exists()


def test_slim_applies_verifies_and_records(bundle, profile, verifier):
    plan = plan_slim(bundle, profile)
    result = slim(bundle, profile, verifier=verifier)
    assert result.verified.checked and result.verified.failed == []
    assert "numpy" in result.verified.passed and "app" in result.verified.passed
    assert "pip" not in result.verified.modules  # removed with its distribution
    remaining = tree_files(bundle)
    for entry in plan.rules:
        for path in entry.files:
            assert path not in remaining
    assert "numpy/_core/tests/_natype.py" in remaining and "numpy/testing/_utils.py" in remaining
    assert not (bundle / "app" / "tests").exists()  # empty directories pruned
    assert not (bundle / ".fcslim" / "slim-backup").exists()
    record = json.loads((bundle / ".fcslim" / "slim.json").read_text())
    assert record["schema"] == 1 and record["before_bytes"] > record["after_bytes"]
    assert record["after_bytes"] == sum(remaining.values())
    assert {r["name"] for r in record["rules"]} >= {"test-suites"}
    assert record["rolled_back"] == [] and record["verified"]["checked"] is True


def test_rollback_narrows_to_the_file_imported_at_import_time(tmp_path, profile, verifier):
    root = tmp_path / "b"
    add_distribution(root, "fixpkg", "1.0", {
        "fixpkg/__init__.py": "from fixpkg.tests import helpers\n",
        "fixpkg/tests/__init__.py": "",
        "fixpkg/tests/helpers.py": "HELP = 1\n",
        "fixpkg/tests/test_one.py": "def test(): pass\n",
        "fixpkg/tests/test_two.py": "def test(): pass\n",
        "fixpkg/tests/data.txt": "x" * 1000,
        "fixpkg/mod.pyi": "X: int\n",
        "fixpkg/_src.c": "int x;\n",
    })
    result = slim(root, profile, verifier=verifier)
    assert [rb.rule for rb in result.rolled_back] == ["test-suites"]
    rb = result.rolled_back[0]
    # Guided: the traced unslimmed import opened the package's __init__.py and helpers.py.
    assert rb.files == ["fixpkg/tests/__init__.py", "fixpkg/tests/helpers.py"]
    assert rb.modules == ["fixpkg"] and "fixpkg.tests" in rb.errors["fixpkg"]
    # The slimmed tree, the unslimmed (traced) for the failure, one guided round, the final word.
    assert result.verification_runs == 4
    assert (root / "fixpkg/tests/helpers.py").exists()
    assert not (root / "fixpkg/tests/test_one.py").exists()
    assert not (root / "fixpkg/mod.pyi").exists() and not (root / "fixpkg/_src.c").exists()
    assert result.verified.failed == []
    record = json.loads((root / ".fcslim" / "slim.json").read_text())
    assert record["rolled_back"][0]["files"] == ["fixpkg/tests/__init__.py", "fixpkg/tests/helpers.py"]
    tests_rule = next(r for r in record["rules"] if r["name"] == "test-suites")
    assert "fixpkg/tests/helpers.py" not in tests_rule["files"]


def test_an_error_that_names_no_file_is_bisected(tmp_path, profile, verifier):
    root = tmp_path / "b"
    add_distribution(root, "datapkg", "1.0", {
        "datapkg/__init__.py": ("import os\nhere = os.path.dirname(__file__)\n"
                                "if not os.path.exists(os.path.join(here, 'tests', 'data' + '.txt')):\n"
                                "    raise RuntimeError('a data file is gone')\n"),
        "datapkg/tests/__init__.py": "",
        "datapkg/tests/data.txt": "x" * 100,
        "datapkg/tests/test_one.py": "def test(): pass\n",
        "datapkg/mod.pyi": "X: int\n",
    })
    result = slim(root, profile, verifier=verifier)
    assert [(rb.rule, rb.files) for rb in result.rolled_back] == [("test-suites", ["datapkg/tests/data.txt"])]
    assert not (root / "datapkg/tests/test_one.py").exists() and not (root / "datapkg/mod.pyi").exists()
    assert result.verified.failed == []


def test_a_clean_slim_checks_imports_once(tmp_path, profile, verifier):
    root = tmp_path / "b"
    add_distribution(root, "okpkg", "1.0", {"okpkg/__init__.py": "X = 1\n", "okpkg/tests/test_x.py": ""})
    result = slim(root, profile, verifier=verifier)
    assert result.verification_runs == 1 and result.verified.passed == ["okpkg"]
    assert not result.baseline.checked and "not needed" in result.baseline.reason


def test_guessing_culprits_from_import_errors():
    from fcslim.slim.backup import Action

    applied = [Action("t", p, "delete") for p in (
        "a/b/c.py", "a/b/_d.cpython-310-x86_64-linux-gnu.so", "a/pkg/__init__.py", "a/pkg/x.py",
        "a/ns/y.py", "a/data/table.json", "lib/libz.so.1", "a/keep.txt")]
    def paths(text):
        return sorted(a.path for a in guess_culprits([text], applied))
    assert paths("ModuleNotFoundError: No module named 'a.b.c'") == ["a/b/c.py"]
    assert paths("ImportError: cannot import name '_d' from 'a.b' (/code/a/b/__init__.py)") == [
        "a/b/_d.cpython-310-x86_64-linux-gnu.so"]
    assert paths("No module named 'a.pkg'") == ["a/pkg/__init__.py"]
    assert paths("No module named 'a.ns'") == ["a/ns/y.py"]
    assert paths("FileNotFoundError: [Errno 2] No such file or directory: '/code/a/data/table.json'") == [
        "a/data/table.json"]
    assert paths("OSError: libz.so.1: cannot open shared object file") == ["lib/libz.so.1"]
    assert paths("RuntimeError: something else") == []


def test_failures_before_slimming_are_not_slims_fault(tmp_path, profile, verifier):
    root = tmp_path / "b"
    add_distribution(root, "broken", "1.0", {"broken/__init__.py": "import does_not_exist\n",
                                             "broken/tests/test_x.py": ""})
    result = slim(root, profile, verifier=verifier)
    assert result.rolled_back == [] and result.verified.failed == ["broken"]
    assert not (root / "broken/tests").exists()


def test_not_verified_says_why(bundle, profile, monkeypatch):
    from fcslim.verify import imports as verify_mod
    monkeypatch.setattr(verify_mod.interpreters, "find_python", lambda p, explicit=None: None)
    result = slim(bundle, profile)
    assert not result.verified.checked
    assert "no CPython 3.11" in result.verified.reason
    assert json.loads((bundle / ".fcslim/slim.json").read_text())["verified"]["checked"] is False


def test_find_culprits_binary_splitting():
    bad = {3, 11}
    calls = []

    def fails(applied):
        calls.append(len(applied))
        return bool(bad & set(applied))

    assert sorted(find_culprits(list(range(16)), fails)) == [3, 11]
    assert len(calls) < 16  # fewer checks than one per item


# -- strip -----------------------------------------------------------------------

def test_strip_debug_only_where_debug_sections_exist(tmp_path, profile, gcc, verifier):
    root = tmp_path / "b"
    add_distribution(root, "native", "1.0", {"native/__init__.py": ""})
    with_debug = build_shared_object(gcc, root / "native" / "_debug.so", debug=True)
    without = build_shared_object(gcc, root / "native" / "_plain.so", debug=False)
    grafted = build_shared_object(gcc, root / "native.libs" / "libgraft-1234.so.1", debug=True)
    os.chmod(with_debug, 0o750)
    assert elf_layout(with_debug).debug_bytes > 0 and elf_layout(without).debug_bytes == 0
    plan = plan_slim(root, profile)
    assert _plan_files(plan)["debug-info"] == ["native/_debug.so"]
    grafted_bytes = grafted.read_bytes()
    before = with_debug.stat().st_size
    result = slim(root, profile, verifier=verifier)
    assert with_debug.stat().st_size < before
    assert elf_layout(with_debug).debug_bytes == 0
    assert stat.S_IMODE(with_debug.stat().st_mode) == 0o750
    assert grafted.read_bytes() == grafted_bytes
    assert ctypes.CDLL(str(with_debug)).answer() == 42
    strip_rule = next(r for r in result.rules if r.name == "debug-info")
    assert strip_rule.bytes == before - with_debug.stat().st_size


def test_strip_needs_no_binutils(tmp_path, profile, gcc, monkeypatch):
    """fcslim removes debug sections itself: no `strip` on PATH is needed."""
    root = tmp_path / "b"
    lib = build_shared_object(gcc, root / "m" / "_x.so", debug=True)
    add_distribution(root, "m", "1.0", {"m/__init__.py": ""})  # slim works on installed package trees
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    entry = next(r for r in plan_slim(root, profile).rules if r.name == "debug-info")
    assert entry.files == ["m/_x.so"] and entry.bytes == elf_layout(lib).debug_bytes > 0
    assert strip_mod.strip_debug_copy(lib, tmp_path / "stripped.so") is None
    assert elf_layout(tmp_path / "stripped.so").debug_bytes == 0
    assert ctypes.CDLL(str(tmp_path / "stripped.so")).answer() == 42


def test_foreign_architecture_is_stripped_too(tmp_path, gcc):
    """An aarch64 bundle built on an x86_64 host: its files are stripped
    without a cross strip, and stay aarch64 files with the same segments."""
    root = tmp_path / "b"
    lib = set_machine(build_shared_object(gcc, root / "m" / "_x.so", debug=True), "AARCH64")
    entry = next(r for r in plan_slim(root, load_profile("aws-python3.12-arm64")).rules if r.name == "debug-info")
    assert entry.files == ["m/_x.so"]
    assert strip_mod.strip_debug_copy(lib, tmp_path / "arm.so") is None
    assert read_elf(tmp_path / "arm.so").machine == "AARCH64"
    assert elf_layout(tmp_path / "arm.so").segments == elf_layout(lib).segments


def test_cli_slim_runs_and_reports(bundle, tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["slim", str(bundle), "--runtime", "aws-python3.11", "--python", sys.executable,
                               "--keep", "app/README.md"])
    assert out.exit_code == 0, out.output
    assert "imports:" in out.output and "total:" in out.output
    assert (bundle / "app" / "README.md").exists()
    bad = runner.invoke(main, ["slim", str(bundle), "--runtime", "aws-python3.11", "--drop-sources"])
    assert bad.exit_code == InputError.exit_code
    wrong = runner.invoke(main, ["slim", str(bundle), "--runtime", "aws-python3.11", "--python", "/bin/false"])
    assert wrong.exit_code == 3 and "--python" in wrong.output


def test_interrupted_run_is_recovered(bundle, profile, verifier):
    # An earlier run died after moving a file into the backup.
    backup = bundle / ".fcslim" / "slim-backup" / "removed" / "app"
    backup.mkdir(parents=True)
    os.replace(bundle / "app" / "core.py", backup / "core.py")
    result = slim(bundle, profile, verifier=verifier)
    assert (bundle / "app" / "core.py").exists()
    assert "app" in result.verified.passed
    assert any("interrupted" in n for n in result.notes)


def test_strip_never_writes_through_a_hard_link(tmp_path, profile, gcc, verifier):
    """Installs hard-link files out of uv's cache: stripping must replace the
    bundle's file, leaving the cache's copy (the other link) byte-identical."""
    root = tmp_path / "b"
    add_distribution(root, "native", "1.0", {"native/__init__.py": ""})
    cached = build_shared_object(gcc, tmp_path / "uv-cache" / "_debug.so", debug=True)
    original = cached.read_bytes()
    os.link(cached, root / "native" / "_debug.so")
    slim(root, profile, verifier=verifier)
    assert elf_layout(root / "native" / "_debug.so").debug_bytes == 0
    assert cached.read_bytes() == original
    assert cached.stat().st_nlink == 1
