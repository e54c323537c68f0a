"""Import checks: module discovery, crash isolation, where checks run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fcslim.verify import interpreters
from fcslim.verify.imports import NoVerifier, make_verifier, top_level_modules, verify_imports
from fcslim.target.profile import load_profile

from tests.support.slim_trees import add_distribution, host_profile


def test_top_level_modules_from_dist_info_and_tree(tmp_path):
    add_distribution(tmp_path, "alpha", "1", {"alpha/__init__.py": "", "alpha/tests/__init__.py": ""})
    add_distribution(tmp_path, "single", "1", {"single.py": ""})
    (tmp_path / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (tmp_path / "nsdir" / "sub").mkdir(parents=True)
    (tmp_path / "nsdir" / "sub" / "__init__.py").write_text("")
    (tmp_path / "numpy.libs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "bin").mkdir()
    assert top_level_modules(tmp_path) == ["_ext", "alpha", "nsdir", "single"]


def test_a_crashing_import_costs_only_that_module(tmp_path):
    (tmp_path / "aaa_ok.py").write_text("")
    (tmp_path / "bbb_crash.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    (tmp_path / "ccc_fails.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "ddd_ok.py").write_text("")
    profile = host_profile()
    result = verify_imports(tmp_path, profile, python=sys.executable)
    assert result.checked and result.scope == "host-python"
    assert result.passed == ["aaa_ok", "ddd_ok"]
    assert "killed the interpreter (signal 11)" in result.modules["bbb_crash"].error
    assert result.modules["ccc_fails"].error == "RuntimeError: boom at import"
    assert "host's system libraries" in result.reason


def test_host_check_uses_bundle_library_dir(tmp_path, gcc):
    from tests.support.slim_trees import build_shared_object
    build_shared_object(gcc, tmp_path / "lib" / "libanswer.so.1", debug=False)
    (tmp_path / "usesit.py").write_text("import ctypes\nctypes.CDLL('libanswer.so.1')\n")
    result = verify_imports(tmp_path, host_profile(), python=sys.executable)
    assert result.passed == ["usesit"]


def test_no_interpreter_means_not_verified_with_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(interpreters, "candidate_tiers", lambda profile: iter([[], []]))
    profile = host_profile()
    verifier = make_verifier(profile)
    assert isinstance(verifier, NoVerifier)
    result = verify_imports(tmp_path, profile)
    assert not result.checked and result.reason.startswith("not verified: no CPython")


def test_explicit_interpreter_of_wrong_version_is_refused():
    profile = load_profile("aws-python3.9" if sys.version_info[:2] != (3, 9) else "aws-python3.10")
    with pytest.raises(interpreters.InterpreterError, match="needs CPython"):
        interpreters.find_python(profile, explicit=sys.executable)


def test_find_python_runs_candidates(tmp_path, monkeypatch):
    fake = tmp_path / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    fake.write_text("#!/bin/sh\nexit 127\n")  # a shim that does not run
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{Path(sys.executable).parent}")
    interp = interpreters.find_python(host_profile())
    assert interp is not None and Path(interp.path).resolve() != fake.resolve()
    assert interp.minor_version == sys.version_info[:2]


def _pyenv_like(tmp_path, versions: list[str]) -> tuple[Path, Path]:
    """A pyenv root with ``versions`` (each a link to this interpreter) and a
    shim as pyenv writes them, which leaves a mark when it is run."""
    import os

    root, shims = tmp_path / "pyenv", tmp_path / "shims"
    for version in versions:
        bin_dir = root / "versions" / version / "bin"
        bin_dir.mkdir(parents=True)
        os.symlink(sys.executable, bin_dir / f"python{'.'.join(version.split('.')[:2])}")
    (root / "libexec").mkdir(parents=True)
    pyenv = root / "libexec" / "pyenv"  # `pyenv exec NAME ARGS`: the newest version's NAME
    pyenv.write_text(f"#!/bin/sh\necho ran >> {tmp_path / 'shim-ran'}\nshift\nname=$1; shift\n"
                     f"exec {sys.executable} \"$@\"\n")
    pyenv.chmod(0o755)
    shims.mkdir()
    name = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (shims / name).write_text(
        f'#!/bin/sh\nset -e\nprogram="${{0##*/}}"\n\nexport PYENV_ROOT="{root}"\n'  # pyenv's start with bash
        f'exec "{pyenv}" exec "$program" "$@"\n')
    (shims / name).chmod(0o755)
    return root, shims


def test_a_pyenv_shim_is_read_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    root, shims = _pyenv_like(tmp_path, [f"{minor}.1", f"{minor}.12", "2.7.18"])
    monkeypatch.setenv("PATH", str(shims))
    interp = interpreters.find_python(host_profile())
    assert interp is not None and interp.minor_version == sys.version_info[:2]
    assert not (tmp_path / "shim-ran").exists()  # no bash, no pyenv started
    first = next(interpreters.candidate_tiers(host_profile()))
    assert first[0] == str(root / "versions" / f"{minor}.12" / "bin" / f"python{minor}")  # newest first


def test_a_pyenv_shim_without_that_version_installed_is_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    monkeypatch.setattr(interpreters, "_pyenv_candidates", lambda version: [])  # the machine's own pyenv
    _root, shims = _pyenv_like(tmp_path, ["2.7.18"])  # e.g. a virtualenv the shim knows by another name
    monkeypatch.setenv("PATH", str(shims))
    interp = interpreters.find_python(host_profile())
    assert interp is not None and interp.minor_version == sys.version_info[:2]
    assert (tmp_path / "shim-ran").exists()


@pytest.mark.rootfs
def test_check_in_clean_bullseye_root(tmp_path, bullseye_root):
    (tmp_path / "hello.py").write_text("import sys\nassert sys.version_info[:2] == (3, 9)\n")
    (tmp_path / "needs_new.py").write_text("import tomllib\n")  # 3.11+ only
    result = verify_imports(tmp_path, load_profile("debian11-python3.9"))
    assert result.scope == "target-root" and result.python.startswith("3.9")
    assert result.passed == ["hello"] and result.failed == ["needs_new"]


def test_probes_are_remembered_by_path_and_mtime(tmp_path, monkeypatch):
    """A second probe of the same file does not launch it; the interpreter is
    named by the executable it reports, so a shim is not run again either."""
    import os

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    shim = tmp_path / "python-shim"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    shim.chmod(0o755)
    launches = []
    real_run = interpreters.subprocess.run
    monkeypatch.setattr(interpreters.subprocess, "run", lambda *a, **k: launches.append(a) or real_run(*a, **k))
    first = interpreters.probe(str(shim))
    second = interpreters.probe(str(shim))
    assert first == second and len(launches) == 1
    assert first.path == sys.executable and first.minor_version == sys.version_info[:2]
    os.utime(shim, ns=(1, 1))  # a changed file is probed again
    interpreters.probe(str(shim))
    assert len(launches) == 2
