"""What a cold build does at the same time (offline layer): the import check
with the report's deflating, the check's set-up with the install, the
interpreter probes with each other; and that the answers stay those of the
one-at-a-time code."""

from __future__ import annotations

import inspect
import sys
import threading
from pathlib import Path

import pytest

from fcslim.cache import fsops
from fcslim.cache.bundles import store_bundle
from fcslim.cache.entries import read_meta
from fcslim.core.files import remove_tree_soon
from fcslim.core.inputs import RunInputs
from fcslim.pack.deflate import codec, known_digests
from fcslim.pack.streams import StreamStore
from fcslim.pack.tree import list_tree
from fcslim.report import sizing
from fcslim.report.measure import build_report, measure_ahead
from fcslim.slim import backup
from fcslim.slim.apply import slim
from fcslim.verify import early, interpreters, rootfs
from fcslim.verify.imports import HostVerifier, NoVerifier, make_verifier

from tests.support.slim_trees import host_profile, make_bundle


class _WaitingVerifier(HostVerifier):
    """A host check that first waits until ``alongside`` has started: it can
    only pass when both run at the same time."""

    def __init__(self, profile, interp, started: threading.Event):
        super().__init__(profile, interp)
        self.started = started
        self.waited: list[bool] = []

    def _run(self, bundle, modules):
        self.waited.append(self.started.wait(timeout=60))
        return super()._run(bundle, modules)


def test_alongside_runs_during_the_import_check_and_changes_no_result(tmp_path):
    profile = host_profile()
    interp = interpreters.find_python(profile, explicit=sys.executable)
    plain = slim(make_bundle(tmp_path / "plain"), profile, verifier=HostVerifier(profile, interp))

    started = threading.Event()
    seen: list[list[str]] = []
    root = make_bundle(tmp_path / "b")

    def alongside() -> None:
        started.set()
        seen.append(sorted(f.path for f in list_tree(root).files))

    verifier = _WaitingVerifier(profile, interp, started)
    result = slim(root, profile, verifier=verifier, alongside=alongside)
    assert verifier.waited == [True]  # the first check ran while alongside did
    assert result.verified.ok and result.verification_runs == 1
    assert result.record()["rules"] == plain.record()["rules"]
    assert result.after_bytes == plain.after_bytes
    # alongside saw the slimmed tree, as measuring will
    assert seen == [sorted(f.path for f in list_tree(root).files)]


def test_alongside_is_not_called_without_a_check(tmp_path):
    calls = []
    slim(make_bundle(tmp_path / "b"), host_profile(), verify=False, alongside=lambda: calls.append(1))
    assert calls == []


def test_measuring_ahead_leaves_the_report_nothing_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    root = make_bundle(tmp_path / "b")
    files = list_tree(root).files
    store = StreamStore(codec())
    assert all(k is None for k in store.known([f.source.stat() for f in files]))
    fresh = build_report(root, layout="code", remember=False).to_dict(include_files=True)
    measure_ahead(root, "code")
    assert all(k is not None for k in store.known([f.source.stat() for f in files]))
    measured = []
    real = sizing.measure_tree
    monkeypatch.setattr(sizing, "measure_tree", lambda *a: measured.append(a) or real(*a))
    ahead = build_report(root, layout="code", remember=False).to_dict(include_files=True)
    assert measured == [] and ahead == fresh  # looked up, and the same report
    assert build_report(root, layout="layer", remember=False).zip_bytes > 0 and len(measured) == 1  # another zip


def test_a_tree_changed_after_measuring_ahead_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    root = make_bundle(tmp_path / "b")
    measure_ahead(root, "code")
    (root / "put_back.py").write_text("x = 1\n" * 50)  # as slim's rollback puts a file back
    report = build_report(root, layout="code", remember=False)
    assert "put_back.py" in {f.path for f in report.files}
    fresh = build_report(root, layout="code", remember=False, identity="another")  # measured anew
    assert report.zip_bytes == fresh.zip_bytes and report.totals == fresh.totals


def test_measuring_ahead_an_unreadable_tree_leaves_it_to_measuring(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    measure_ahead(tmp_path / "missing", "code")  # build_report is the one that reports it


def test_pending_verifier_gives_make_verifiers_answer(monkeypatch, tmp_path):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    profile = host_profile()
    pending = early.start_verifier(profile, sys.executable)
    got, direct = pending.get(), make_verifier(profile, sys.executable)
    assert type(got) is type(direct) and got.where == direct.where
    # its bytecode cache made and seeded meanwhile, for the warmer the build starts once uv is done
    assert got.pycache is not None and any(p.suffix == ".pyc" for p in got.pycache.path.rglob("*"))


def test_pending_verifier_raises_the_set_up_error_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    pending = early.start_verifier(host_profile(), str(tmp_path / "no-such-python"))
    with pytest.raises(interpreters.InterpreterError, match="does not run"):
        pending.get()


def test_a_root_still_to_build_is_left_to_the_slim_stage(monkeypatch, tmp_path):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(rootfs, "rootfs_support", lambda: None)
    profile = host_profile()
    monkeypatch.setattr(early.rootfs, "uses_clean_root", lambda p: True)
    calls = []
    monkeypatch.setattr(early.imports, "make_verifier", lambda *a: calls.append(a) or NoVerifier("test"))
    pending = early.start_verifier(profile)
    assert calls == []  # no root is built in the background
    assert isinstance(pending.get(), NoVerifier) and calls == [(profile, None)]


def test_version_manager_shims_run_at_once_and_the_first_fit_in_order_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    gate = tmp_path / "gate"
    alias = tmp_path / "alias" / f"python{version}"  # the second candidate's interpreter, by another name
    alias.parent.mkdir()
    alias.symlink_to(sys.executable)
    first = tmp_path / "first" / f"python{version}"
    second = tmp_path / "second" / f"python{version}"
    for path in (first, second):
        path.parent.mkdir()
    # The first candidate answers only once the second has started (one at a
    # time, it would give up and the second would be taken).
    first.write_text(f"#!/bin/sh\nfor i in $(seq 600); do [ -e {gate} ] && exec {sys.executable} \"$@\"; "
                     "sleep 0.1; done\nexit 1\n")
    second.write_text(f"#!/bin/sh\ntouch {gate}\nexec {alias} \"$@\"\n")
    for path in (first, second):
        path.chmod(0o755)
    # Shims (the second tier: nothing cheaper fitted) are run at once.
    monkeypatch.setattr(interpreters, "candidate_tiers", lambda profile: iter([[], [str(first), str(second)]]))
    interp = interpreters.find_python(host_profile())
    assert interp is not None and interp.path != str(alias)
    assert interp.minor_version == sys.version_info[:2]
    alone = interpreters.probe(str(second))
    assert alone is not None and alone.path == str(alias)  # the two are told apart


def test_a_missing_path_is_an_input_only_by_its_name(tmp_path):
    inputs = RunInputs()
    given = tmp_path / "req.txt"
    given.write_text("x\n")
    inputs.add(given)
    link = tmp_path / "through"
    link.symlink_to(tmp_path)
    assert inputs.same_file(link / "req.txt") == given  # by real path
    assert inputs.same_file(tmp_path / "nothing" / "other.txt") is None
    given.unlink()  # gone, still an input by its name
    assert inputs.same_file(link / "req.txt") == given
    inputs.add(tmp_path)  # a directory read by the run: a path that resolves to it is it
    assert inputs.same_file(tmp_path / "nothing" / "..") == tmp_path


def _tree_state(root: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted(root.rglob("*")):
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        out.append((str(path.relative_to(root)), kind + (":" + path.read_text() if kind == "file" else "")))
    return out


def test_whole_directories_move_in_one_rename_and_leave_the_same_trees(tmp_path, monkeypatch):
    def make(root: Path) -> list:
        files = {f"pkg/tests/t{i}.py": f"t{i}" for i in range(40)}
        files.update({"pkg/tests/data/a.txt": "a", "pkg/tests/data/deep/b.txt": "b",  # nested, all deleted
                      "pkg/docs/index.rst": "doc", "pkg/docs/keep.py": "keep",  # partly deleted
                      "pkg/mixed/x.pyi": "x", "pkg/__init__.py": "", "other/tests/only.py": "o"})
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        (root / "pkg" / "mixed" / "emptysub").mkdir()  # keeps pkg/mixed from moving whole
        (root / "pkg" / "tests" / "link.py").symlink_to("t0.py")
        gone = [p for p in files if "/tests/" in p or p.endswith((".rst", ".pyi"))] + ["pkg/tests/link.py"]
        return [backup.Action("rule", p, "delete") for p in gone]

    states = []
    real_move = backup.move
    for threshold in (10**9, 1):
        monkeypatch.setattr(backup, "_WHOLE_DIRECTORIES_FROM", threshold)
        root = tmp_path / str(threshold)
        actions = make(root)
        tree = backup.Tree(root)
        moves = []
        monkeypatch.setattr(backup, "move", lambda a, b, **k: moves.append(a) or real_move(a, b, **k))
        tree.set_applied(actions)
        applied = _tree_state(root)
        assert tree.applied == set(actions)
        tree.set_applied(actions[:5])  # a bisection step puts files back one by one
        partly = _tree_state(root)
        tree.set_applied([])
        states.append((applied, partly, _tree_state(root), len(moves)))
    (per_file, *rest_a, moves_a), (whole, *rest_b, moves_b) = states
    assert per_file == whole and rest_a == rest_b
    assert ("pkg/tests", "dir") not in [e for e in whole if not e[0].startswith(".fcslim")]
    assert ("pkg/mixed/emptysub", "dir") in whole
    assert moves_b < moves_a  # the test suites moved as directories


def test_the_backup_is_set_aside_for_the_caller_and_removed_in_a_thread(tmp_path):
    profile = host_profile()
    interp = interpreters.find_python(profile, explicit=sys.executable)
    root = make_bundle(tmp_path / "b")
    aside = tmp_path / "aside"
    result = slim(root, profile, verifier=HostVerifier(profile, interp), set_aside=aside)
    assert not (root / backup.BACKUP_DIR).exists()
    removed = {p.relative_to(aside / "removed").as_posix() for p in (aside / "removed").rglob("*") if p.is_file()}
    assert removed == {p for rule in result.rules if rule.kind != "strip-debug" for p in rule.files}
    wait = remove_tree_soon(aside)
    wait()
    assert not aside.exists()


def test_the_bundle_cache_takes_measured_digests_and_hashes_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    root = make_bundle(tmp_path / "b")
    measure_ahead(root, "code")
    changed = next(p for p in sorted(root.rglob("*.py")) if p.stat().st_size > 0)
    changed.write_text("# edited after measuring\n")  # a new identity: hashed again
    hashed = []
    real = fsops.file_blake3
    monkeypatch.setattr(fsops, "file_blake3", lambda path: hashed.append(Path(path).name) or real(path))
    tree = store_bundle("a" * 64, root, known_digests=known_digests)
    manifest = read_meta(tree.parent)["files"]
    assert hashed == [changed.name]
    for rel, (size, digest, _mtime) in manifest.items():
        if not rel.startswith(".fcslim/"):
            assert digest == real(root / rel) and size == (root / rel).stat().st_size


def test_the_install_stage_alone_loads_later_stages_once_uv_runs(tmp_path, links, cache, monkeypatch, quiet):
    """The later stages' modules load while uv installs, started by uv's start
    (not before: that would slow what starts uv), also without fetch or slim."""
    from fcslim import pipeline
    from fcslim.build_spec import BuildOptions
    from fcslim.resolve.options import InstallOptions
    from fcslim.target.profile import load_profile

    seen: list[list[str]] = []
    real = pipeline.import_later_stages

    def spy(options):
        seen.append([frame.function for frame in inspect.stack()][1:3])
        return real(options)

    monkeypatch.setattr(pipeline, "import_later_stages", spy)
    (tmp_path / "requirements.txt").write_text("alpha\n")
    result = pipeline.build(BuildOptions(
        requirements=tmp_path / "requirements.txt", profile=load_profile("fc-python3.10"), output=tmp_path / "build",
        install=InstallOptions(no_index=True, find_links=(str(links),), cache_dir=cache),
        fetch=False, slim=False, verify=False, cache=False, gate=False))
    # once, from uv's start: run_uv's started hook, called once uv is spawned
    # and before run_uv waits for it (what uv has written by then is a race)
    assert seen == [["while_uv_installs", "run_uv"]]
    assert [(d.name, d.version) for d in result.distributions] == [("alpha", "2.0")]


def test_a_build_warms_its_first_checks_bytecode_once_installed(tmp_path, links, cache, monkeypatch, quiet):
    """After the install, while the ELF scan and the slim plan run on one
    core, the first check's warmer compiles on the other; the check takes it
    over.  The verifier's set-up is waited for here (a build never waits)."""
    from fcslim import pipeline
    from fcslim.build_spec import BuildOptions
    from fcslim.resolve.options import InstallOptions
    from fcslim.verify.imports import Verifier

    monkeypatch.setattr(early.imports, "ASSEMBLED_ROOTS", False)
    started, taken = [], []
    real_warm_early, real_warmer_beside = early.PendingVerifier.warm_early, Verifier.warmer_beside

    def warm_early(self, bundle):
        if self._thread is not None:
            self._thread.join()
        found = real_warm_early(self, bundle)
        started.append((found, None if found is None else found.early))
        return found

    def warmer_beside(self, command):
        warmer = real_warmer_beside(self, command)
        taken.append(warmer)
        return warmer

    monkeypatch.setattr(early.PendingVerifier, "warm_early", warm_early)
    monkeypatch.setattr(Verifier, "warmer_beside", warmer_beside)
    (tmp_path / "requirements.txt").write_text("alpha\n")
    result = pipeline.build(BuildOptions(
        requirements=tmp_path / "requirements.txt", profile=host_profile(), output=tmp_path / "build",
        install=InstallOptions(no_index=True, find_links=(str(links),), cache_dir=cache), python=sys.executable,
        fetch=False, slim=True, verify=True, cache=False, gate=False))
    assert len(started) == 1 and started[0][1] is not None, started
    assert taken[0] is started[0][1]  # the first check's warmer is the early one
    assert started[0][1].proc.returncode is not None  # and it ended with that check
    assert result.slim.verified.checked and result.slim.verified.failed == []


def test_a_build_that_fails_before_its_check_stops_the_early_warmer(tmp_path, links, cache, monkeypatch, quiet):
    from fcslim import pipeline
    from fcslim.build_spec import BuildOptions
    from fcslim.core.errors import FcslimError
    from fcslim.resolve.options import InstallOptions

    monkeypatch.setattr(early.imports, "ASSEMBLED_ROOTS", False)
    warmers = []
    real_warm_early = early.PendingVerifier.warm_early

    def warm_early(self, bundle):
        if self._thread is not None:
            self._thread.join()
        found = real_warm_early(self, bundle)
        warmers.append(None if found is None else found.early)
        return found

    def failing_slim(*args, **kwargs):
        raise FcslimError("a stage before the check failed", "nothing to do")

    monkeypatch.setattr(early.PendingVerifier, "warm_early", warm_early)
    monkeypatch.setattr(pipeline, "_slim_stage", failing_slim)
    (tmp_path / "requirements.txt").write_text("alpha\n")
    with pytest.raises(FcslimError, match="before the check failed"):
        pipeline.build(BuildOptions(
            requirements=tmp_path / "requirements.txt", profile=host_profile(), output=tmp_path / "build",
            install=InstallOptions(no_index=True, find_links=(str(links),), cache_dir=cache), python=sys.executable,
            fetch=False, slim=True, verify=True, cache=False, gate=False))
    assert len(warmers) == 1 and warmers[0] is not None
    assert warmers[0].proc.returncode is not None  # stopped and reaped with the failed build
