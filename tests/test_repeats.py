"""Repeated warnings: one line with a count (fcslim/core/repeats.py), on the
CLI too, also with -q, and not again when the bundle comes from the cache."""

from __future__ import annotations

import json

from click.testing import CliRunner

from fcslim.core.repeats import collapse_repeats


def test_messages_differing_only_in_paths_become_one_line_with_a_count():
    notes = [f"not stripped tensorflow/python/_pywrap_{i}.so: patchelf rewrote its headers" for i in range(25)]
    notes.insert(3, "not verified: no interpreter")
    out = collapse_repeats(notes + ["kept numpy: required by pandas", "kept numpy: required by pandas"])
    assert out[0].startswith("not stripped tensorflow/python/_pywrap_0.so: patchelf rewrote its headers")
    assert "(and 24 more like it: tensorflow/python/_pywrap_1.so, tensorflow/python/_pywrap_2.so," in out[0]
    assert out[1:] == ["not verified: no interpreter", "kept numpy: required by pandas (2 times)"]
    assert collapse_repeats(["a/x.so: one reason", "a/y.so: another reason"]) == [
        "a/x.so: one reason", "a/y.so: another reason"]


def test_resolve_warns_once_per_kind_even_quiet_and_not_on_a_cache_hit(tmp_path, links, cache, monkeypatch):
    from fcslim.cli import main
    from fcslim import pipeline

    real = pipeline._slim_stage

    def noisy(staging, profile, options, result, stages, *rest):  # as a TensorFlow slim would
        real(staging, profile, options, result, stages, *rest)
        result.warnings.extend(f"not stripped pkg/lib{i}.so: patchelf rewrote it" for i in range(25))

    monkeypatch.setattr(pipeline, "_slim_stage", noisy)
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "requirements.txt").write_text("stable\n")
    args = ["resolve", str(tmp_path / "requirements.txt"), "-R", "fc-python3.10", "-o", str(tmp_path / "build"),
            "--no-index", "-f", str(links), "--no-fetch", "--no-slim", "--no-verify", "-q"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    lines = [line for line in first.stderr.splitlines() if "not stripped" in line]
    assert len(lines) == 1 and "and 24 more like it" in lines[0]
    second = CliRunner().invoke(main, args[:-1])  # not quiet: the hit is still silent about old warnings
    assert second.exit_code == 0 and "not stripped" not in second.stderr
    assert "25 warnings when this bundle was first built" in second.stderr
    recorded = json.loads((tmp_path / "build" / ".fcslim" / "warnings.json").read_text())["warnings"]
    assert len(recorded) == 25
