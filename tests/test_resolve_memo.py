"""The bundle-cache key of a loose input without running the resolver again."""

from __future__ import annotations

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


def test_a_warm_rebuild_of_a_loose_input_does_not_resolve_again(tmp_path, links, cache, monkeypatch):
    from fcslim.cli import main
    from fcslim.resolve import install as installer  # the bundle key imports its resolver from here on a miss

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "fc-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)  # no project file of this repository in the way
    compiled = []
    real = installer.compile_requirements
    monkeypatch.setattr(installer, "compile_requirements", lambda *a, **k: compiled.append(a) or real(*a, **k))
    (tmp_path / "requirements.txt").write_text("stable\n")
    argv = ["resolve", str(tmp_path / "requirements.txt"), "--runtime", "fc-python3.10", "-o", str(tmp_path / "build"),
            "--no-index", "-f", str(links), "--no-fetch", "--no-slim", "--no-verify", "-q"]
    runner = CliRunner()
    first = runner.invoke(main, argv)
    assert first.exit_code == 0, (first.output, first.exception)
    assert len(compiled) == 1
    again = runner.invoke(main, argv + ["--json"])
    assert again.exit_code == 0 and len(compiled) == 1
    assert '"cached": true' in again.stdout
    # A new wheel in the find-links directory is a new index state: resolved again.
    (links / "zz_unrelated-1.0-py3-none-any.whl").write_bytes(b"")
    try:
        runner.invoke(main, argv)
    finally:
        (links / "zz_unrelated-1.0-py3-none-any.whl").unlink()
    assert len(compiled) == 2
