"""Requirement-file parsing: every failure names file and line (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcslim.core.errors import EXIT_INPUT, InputError, RequirementSyntaxError
from fcslim.resolve.requirements import parse_requirements
from fcslim.target.profile import load_profile
from tests.support.wheels import build_wheel

H1 = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_plain_lines_comments_continuations_and_markers(tmp_path):
    req = write(tmp_path / "requirements.txt", (
        "# a comment\n"
        "\n"
        "requests>=2.31  # trailing comment\n"
        "pyyaml \\\n"
        "   ==6.0.1\n"
        'backports.zoneinfo; python_version < "3.9"\n'
        "Jinja2[i18n]~=3.1\n"
    ))
    parsed = parse_requirements(req)
    assert [r.name for r in parsed.requirements] == ["requests", "pyyaml", "backports-zoneinfo", "jinja2"]
    assert [r.line for r in parsed.requirements] == [3, 4, 6, 7]
    assert str(parsed.requirements[1].requirement.specifier) == "==6.0.1"
    assert parsed.requirements[2].applies_to(load_profile("fc-python3.9").marker_environment()) is False
    assert parsed.requirements[0].applies_to(load_profile("fc-python3.9").marker_environment()) is True
    assert parsed.requirements[3].requirement.extras == {"i18n"}
    assert not parsed.hashed


def test_options_and_included_files_resolve_relative_to_their_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_TEST_INDEX", "https://mirror.example/simple")
    write(tmp_path / "sub" / "base.txt", "alpha==1.0\n-c constraints.txt\n")
    write(tmp_path / "sub" / "constraints.txt", "beta<2\n")
    (tmp_path / "wheels").mkdir()
    req = write(tmp_path / "requirements.txt", (
        "--index-url ${FCSLIM_TEST_INDEX}\n"
        "--extra-index-url=https://extra.example/simple\n"
        "-f wheels\n"
        "--no-index\n"
        "--pre\n"
        "-r sub/base.txt\n"
        "gamma\n"
    ))
    parsed = parse_requirements(req)
    assert parsed.index_url == "https://mirror.example/simple"
    assert parsed.extra_index_urls == ["https://extra.example/simple"]
    assert parsed.find_links == [str((tmp_path / "wheels").resolve())]
    assert parsed.no_index and parsed.pre
    assert [r.name for r in parsed.requirements] == ["alpha", "gamma"]
    assert [r.name for r in parsed.constraints] == ["beta"]
    assert parsed.locate("Alpha").where.endswith("base.txt:1")
    assert len(parsed.files) == 3


def test_hash_lines_make_a_lock(tmp_path):
    req = write(tmp_path / "requirements.lock", (
        f"alpha==1.0 \\\n    --hash={H1} \\\n    --hash={H2}\n    # via -r requirements.in\n"
    ))
    parsed = parse_requirements(req)
    assert parsed.hashed
    assert parsed.requirements[0].hashes == (H1, H2)
    assert parsed.requirements[0].is_pinned()
    normal = parsed.requirements[0].normalised()
    assert f"--hash={H1}" in normal and normal.startswith("alpha==1.0")


def test_wheel_path_becomes_a_file_url(tmp_path):
    wheel = build_wheel(tmp_path / "dist", "localpkg", "0.1")
    req = write(tmp_path / "requirements.txt", f"./dist/{wheel.name}\n")
    line = parse_requirements(req).requirements[0]
    assert line.name == "localpkg"
    assert line.requirement.url == wheel.resolve().as_uri()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("ok==1\nthis is not a requirement!!\n", ":2: cannot parse requirement"),
        ("ok==1\n\nfoo===\n", ":3: cannot parse requirement"),
        ("-e ./project\n", ":1: editable requirement"),
        ("--frobnicate\n", ":1: unknown option --frobnicate"),
        ("alpha==1 --hash=md5:abc\n", ":1: bad hash"),
        ("alpha==1 --no-deps\n", ":1: unknown per-requirement option"),
        ("./some/project\n", ":1: './some/project' is a local project"),
        ("--index-url\n", ":1: option --index-url needs a value"),
        ("pkg==${FCSLIM_SURELY_UNSET_VAR}\n", ":1: environment variable"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, text, fragment):
    req = write(tmp_path / "requirements.txt", text)
    with pytest.raises(RequirementSyntaxError) as caught:
        parse_requirements(req)
    assert f"{req}{fragment}" in str(caught.value) or fragment in str(caught.value)
    assert str(req) in str(caught.value)
    assert caught.value.exit_code == EXIT_INPUT


def test_missing_include_and_missing_file(tmp_path):
    req = write(tmp_path / "requirements.txt", "alpha\n-r nope.txt\n")
    with pytest.raises(InputError, match=r"requirements.txt:2: included file nope.txt"):
        parse_requirements(req)
    with pytest.raises(InputError, match="does not exist"):
        parse_requirements(tmp_path / "absent.txt")


def test_include_cycle_is_refused(tmp_path):
    write(tmp_path / "a.txt", "-r b.txt\n")
    write(tmp_path / "b.txt", "-r a.txt\n")
    with pytest.raises(RequirementSyntaxError, match="cycle"):
        parse_requirements(tmp_path / "a.txt")


@pytest.mark.parametrize("line, name, extras, marker", [
    ("six @ https://files.example/p/six-1.17.0-py2.py3-none-any.whl", "six", set(), None),
    ("six[x] @ https://files.example/p/six-1.17.0-py2.py3-none-any.whl", "six", {"x"}, None),
    ('six@https://files.example/p/six-1.17.0-py2.py3-none-any.whl ; python_version >= "3"', "six", set(),
     'python_version >= "3"'),
    ("my.pkg @ https://files.example/my.pkg-1.0-py3-none-any.whl", "my-pkg", set(), None),
])
def test_pep508_url_requirement_keeps_its_url(tmp_path, line, name, extras, marker):
    req = write(tmp_path / "requirements.txt", line + "\n")
    parsed = parse_requirements(req).requirements[0]
    assert parsed.name == name and set(parsed.requirement.extras) == extras
    assert parsed.requirement.url == line.split("@", 1)[1].split(";")[0].strip()
    assert (str(parsed.requirement.marker) if parsed.requirement.marker else None) == marker


def test_a_byte_order_mark_is_accepted_as_pip_does(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_bytes("\ufeff# made on Windows\r\nalpha==1.0\r\n-r other.txt\r\n".encode("utf-8"))
    (tmp_path / "other.txt").write_bytes("\ufeffbeta\n".encode("utf-8"))
    parsed = parse_requirements(req)
    assert parsed.names() == ["alpha", "beta"]
    assert parsed.header == ["# made on Windows"]
