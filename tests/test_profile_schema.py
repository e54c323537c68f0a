"""Profiles are checked against data/profile.schema.json: unknown keys and
wrong types are refused at any depth, and the error names the field."""

from __future__ import annotations

import copy
import json

import pytest

from fcslim.core.errors import EXIT_INPUT, ProfileError
from fcslim.core.resources import data_path
from fcslim.target.profile import builtin_profiles, load_profile
from fcslim.target.schema import profile_from_dict, schema_problems


@pytest.fixture
def raw() -> dict:
    return copy.deepcopy(json.loads(data_path("runtimes.json").read_text())["runtimes"]["fc-python3.10"])


def test_every_builtin_profile_passes_the_schema():
    runtimes = json.loads(data_path("runtimes.json").read_text())["runtimes"]
    for name, body in runtimes.items():
        assert schema_problems(body) == [], name
        assert profile_from_dict(name, body, validate=True) == builtin_profiles()[name]


def test_runtimes_json_output_loads_back_unchanged(tmp_path):
    for name, profile in builtin_profiles().items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(profile.to_dict()))
        again = load_profile(str(path))
        assert again.to_dict() | {"source": "built-in"} == profile.to_dict(), name


def refuse(tmp_path, raw) -> str:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert caught.value.exit_code == EXIT_INPUT
    assert str(path) in str(caught.value)
    return str(caught.value)


def test_unknown_key_is_named_with_a_guess(tmp_path, raw):
    raw["python_paht"] = ["/code"]
    text = refuse(tmp_path, raw)
    assert "field 'python_paht' is not a profile field (did you mean 'python_path'?)" in text


def test_wrong_type_deep_inside_is_named(tmp_path, raw):
    raw["debian"]["security_mirror"] = 5
    text = refuse(tmp_path, raw)
    assert "field 'debian.security_mirror' must be an http(s):// or file:// URL or null, not 5" in text


@pytest.mark.parametrize("change, expected", [
    (lambda r: r.pop("glibc"), "field 'glibc' is missing"),
    (lambda r: r.update(arch="x86"), "field 'arch' must be 'x86_64' or 'aarch64', not \"x86\""),
    (lambda r: r.update(python="2.7"), "field 'python' must be a CPython 3.6 or newer version"),
    (lambda r: r.update(python_full_version="3.11.1"), "matching 'python'"),
    (lambda r: r.update(library_path=["lib"]), "field 'library_path.0' must be an absolute path"),
    (lambda r: r["limits"].update(zipped_mb=5), "field 'limits.zipped_mb' is not a profile field"),
    (lambda r: r["limits"].update(layers=True), "field 'limits.layers' must be a whole number of layers"),
    (lambda r: r["debian"].update(mirror="ftp//nope"), "field 'debian.mirror' must be an http(s):// or file:// URL"),
    (lambda r: r.update(code_root=7), "field 'code_root' must be an absolute path, not 7"),
])
def test_each_field_is_checked(tmp_path, raw, change, expected):
    change(raw)
    assert expected in refuse(tmp_path, raw)


def test_several_problems_in_one_paragraph(tmp_path, raw):
    raw["python_paht"] = []
    raw["debian"]["security_mirror"] = 5
    text = refuse(tmp_path, raw)
    assert "python_paht" in text and "debian.security_mirror" in text
    assert "\n" not in text
