"""The bundle-cache key of a loose input without running the resolver again."""

from __future__ import annotations

import json

from click.testing import CliRunner

from fcslim.resolve import memo

PINS = "alpha==1.0\n    # via -r requirements.txt\nbeta==2.0\n    # via alpha\n"


def test_an_input_that_pins_the_whole_resolution_is_closed():
    assert memo.pins_are_closed(["alpha==1.0", "beta==2.0"], PINS)
    assert not memo.pins_are_closed(["alpha==1.0"], PINS)  # beta came from the index's choice
    assert not memo.pins_are_closed(["alpha>=1.0", "beta==2.0"], PINS)
    assert not memo.pins_are_closed(["alpha==1.*", "beta==2.0"], PINS)
    assert not memo.pins_are_closed(["alpha==1.0", "beta==2.1"], PINS)


def test_loose_pins_lapse_closed_ones_do_not(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path))
    memo.remember_pins("closed", PINS, ["alpha==1.0", "beta==2.0"])
    memo.remember_pins("loose", PINS, ["alpha"])
    assert memo.remembered_pins("closed") == PINS and memo.remembered_pins("loose") == PINS
    monkeypatch.setenv("FCSLIM_RESOLVE_TTL", "0")
    assert memo.remembered_pins("closed") == PINS and memo.remembered_pins("loose") is None
    assert memo.remembered_pins("never-seen") is None


def test_resolver_output_and_installed_tree_give_one_pin_text():
    uv_output = ("Alpha==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via -r requirements.txt\n"
                 "beta_two==2.0\n    # via alpha\n")
    assert memo.canonical_resolver_pins(uv_output) == "alpha==1.0\nbeta-two==2.0\n"
    assert memo.canonical_pins([("Beta.Two", "2.0"), ("alpha", "1.0")]) == "alpha==1.0\nbeta-two==2.0\n"
    assert memo.canonical_pins([("gamma", "1.0-RC1"), ("odd", "not a version")]) == \
        "gamma==1.0rc1\nodd==not a version\n"  # as a resolver writes it; unreadable kept
    assert memo.pins_are_closed(["alpha==1.0", "beta-two==2.0"], "alpha==1.0\nbeta-two==2.0\n")
    assert memo.pins_are_closed(["alpha==1", "Beta_Two==2.0.0"], "alpha==1.0\nbeta-two==2.0\n")  # PEP 440 equal


def _build(tmp_path, links, cache, monkeypatch):
    """A resolve CLI of a loose input and the list of resolver runs it made."""
    from fcslim.cli import main
    from fcslim.resolve import install as installer  # the bundle key imports its resolver from here on a miss

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "fc-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    monkeypatch.delenv("FCSLIM_CACHE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no project file of this repository in the way
    compiled = []
    real = installer.compile_requirements
    monkeypatch.setattr(installer, "compile_requirements", lambda *a, **k: compiled.append(a) or real(*a, **k))
    (tmp_path / "requirements.txt").write_text("stable\n")
    argv = ["resolve", str(tmp_path / "requirements.txt"), "--runtime", "fc-python3.10", "-o", str(tmp_path / "build"),
            "--no-index", "-f", str(links), "--no-fetch", "--no-slim", "--no-verify", "-q", "--json"]
    runner = CliRunner()

    def run(*extra):
        done = runner.invoke(main, argv + list(extra))
        assert done.exit_code == 0, (done.output, done.exception)
        return json.loads(done.stdout)
    return run, compiled


def test_a_first_build_and_a_warm_rebuild_of_a_loose_input_do_not_resolve_twice(tmp_path, links, cache, monkeypatch):
    run, compiled = _build(tmp_path, links, cache, monkeypatch)
    first = run()
    assert not first["cached"] and compiled == []  # never resolved here: keyed by what the install resolved
    again = run()
    assert again["cached"] and compiled == []
    # A new wheel in the find-links directory is a new index state: never
    # resolved, so built again rather than restored.
    (links / "zz_unrelated-1.0-py3-none-any.whl").write_bytes(b"")
    try:
        third = run()
    finally:
        (links / "zz_unrelated-1.0-py3-none-any.whl").unlink()
    assert not third["cached"] and compiled == []


def test_a_lapsed_resolution_is_resolved_again_to_the_key_the_install_gave(tmp_path, links, cache, monkeypatch):
    run, compiled = _build(tmp_path, links, cache, monkeypatch)
    first = run()
    assert not first["cached"] and compiled == []
    monkeypatch.setenv("FCSLIM_RESOLVE_TTL", "0")  # the loose input's resolution lapses
    again = run()
    assert len(compiled) == 1  # the resolver ran, and chose what the install had chosen
    assert again["cached"]


def test_with_a_remote_cache_a_first_build_resolves_to_ask_it(tmp_path, monkeypatch):
    """A remote may hold a bundle this machine never resolved for: the key is
    needed before the build, so the input is resolved first."""
    from fcslim import build_key
    from fcslim.build_spec import BuildOptions
    from fcslim.cache import remote_config
    from fcslim.resolve import install as installer
    from fcslim.target.profile import load_profile

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "fc-cache"))
    compiled = []
    monkeypatch.setattr(installer, "compile_requirements", lambda *a, **k: compiled.append(a) or "stable==1.0\n")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("stable\n")
    options = BuildOptions(requirements=reqs, profile=load_profile("fc-python3.10"), output=tmp_path / "out")
    assert isinstance(build_key.bundle_cache_key(options, options.profile, reqs), build_key.PendingBundleKey)
    assert compiled == []
    monkeypatch.setattr(remote_config, "current_remote", lambda: "a remote")
    key = build_key.bundle_cache_key(options, options.profile, reqs)
    assert isinstance(key, str) and len(compiled) == 1
    monkeypatch.setattr(remote_config, "current_remote", lambda: None)  # now remembered: the same key, no resolver run
    assert build_key.bundle_cache_key(options, options.profile, reqs) == key and len(compiled) == 1
