"""The CLI conventions table: every verb x every shared option (pip's and uv's
spellings where the concepts match), deprecations, and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import COMMANDS, main
from fcslim.core.errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE

VERBS = [verb for verb in COMMANDS if verb != "cache"] + ["cache info", "cache clean"]
RUNTIME_VERBS = ["resolve", "lock", "scan", "fetch", "slim", "report", "pack"]
DIRECTORY_VERBS = ["scan", "fetch", "slim", "report", "pack"]
RESULT_VERBS = ["resolve", "lock", "scan", "fetch", "slim", "report", "pack", "runtimes", "cache info", "cache clean"]
INPUT_VERBS = ["resolve", "lock"]

# (verbs, the option as `--help` shows it)
TABLE = [
    (VERBS, "-q, --quiet"),
    (VERBS, "-v, --verbose"),
    (VERBS, "-h, --help"),
    (RESULT_VERBS, "--json"),
    (RUNTIME_VERBS, "-R, --runtime"),
    (RUNTIME_VERBS, "--python-version"),
    (RUNTIME_VERBS, "--python-platform"),
    (INPUT_VERBS, "-r, --requirement"),
    (INPUT_VERBS, "--extra"),
    (INPUT_VERBS, "--group"),
    (INPUT_VERBS, "--all-extras"),
    (INPUT_VERBS, "-c, --constraint"),
    (["resolve", "pack"], "--snippet"),
    (["resolve", "lock"], "-i, --index-url"),
    (["resolve", "lock"], "-f, --find-links"),
]
CELLS = [(verb, option) for verbs, option in TABLE for verb in verbs]


def invoke(args: list[str], **kwargs):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    return {verb: invoke([*verb.split(), "--help"]).output for verb in VERBS}


@pytest.mark.parametrize("verb,option", CELLS, ids=[f"{v}:{o.split(',')[-1].strip()}" for v, o in CELLS])
def test_option_is_offered(helps, verb, option):
    assert option in helps[verb], f"`fcslim {verb}` lacks {option}"


@pytest.mark.parametrize("verb", VERBS)
def test_unknown_option_is_a_usage_error(verb):
    assert invoke([*verb.split(), "--no-such-option"]).exit_code == EXIT_USAGE


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    result = invoke([flag])
    assert result.exit_code == EXIT_OK and result.output.startswith("fcslim, version ")


@pytest.fixture
def tree(tmp_path) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "mod.py").write_text("X = 1\n")
    return bundle


def directory_args(verb: str, tree: Path) -> list[str]:
    extra = {"pack": ["-o", str(tree.parent / "b.zip")], "slim": ["--dry-run"]}
    return [verb, str(tree), *extra.get(verb, [])]


@pytest.mark.parametrize("verb", ["scan", "slim", "report", "pack"])
def test_directory_verbs_take_json_quiet_and_runtime(verb, tree, quiet):
    result = invoke([*directory_args(verb, tree), "-R", "fc-python3.12", "--json", "-q", "--no-gate"]
                    if verb in ("report", "pack") else
                    [*directory_args(verb, tree), "-R", "fc-python3.12", "--json", "-q"])
    assert result.exit_code == EXIT_OK, result.output
    json.loads(result.stdout)


@pytest.mark.parametrize("verb", DIRECTORY_VERBS)
def test_a_bad_runtime_is_exit_3_on_every_verb(verb, tree):
    result = invoke([*directory_args(verb, tree), "-R", "no-such-runtime"])
    assert result.exit_code == EXIT_INPUT and "Unknown runtime" in result.output


@pytest.mark.parametrize("verb", ["scan", "slim", "report"])
def test_the_old_r_spelling_still_works_with_a_deprecation(verb, tree):
    args = [*directory_args(verb, tree), "-r", "fc-python3.12", "--json"]
    result = invoke(args + (["--no-gate"] if verb == "report" else []))
    assert result.exit_code == EXIT_OK, result.output
    assert "deprecated" in result.stderr and "-R fc-python3.12" in result.stderr
    assert "deprecated" not in result.stdout


def test_python_version_and_platform_choose_or_check_the_runtime(tree):
    def runtime(*args: str) -> str:
        result = invoke(["scan", str(tree), "--json", *args])
        assert result.exit_code == EXIT_OK, result.output
        return json.loads(result.stdout)["runtime"]

    assert runtime() == "fc-python3.10"
    assert runtime("--python-version", "3.12") == "fc-python3.12"
    assert runtime("--python-version", "3.12", "--python-platform", "aarch64-manylinux_2_34") == "aws-python3.12-arm64"
    assert runtime("--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_26") == "aws-python3.11"
    assert runtime("-R", "debian11-python3.9", "--python-version", "3.9") == "debian11-python3.9"
    clash = invoke(["scan", str(tree), "-R", "fc-python3.10", "--python-version", "3.12"])
    assert clash.exit_code == EXIT_INPUT and "contradicts --python-version 3.12" in clash.output
    several = invoke(["scan", str(tree), "--python-version", "3.11"])
    assert several.exit_code == EXIT_INPUT and "aws-python3.11" in several.output and "debian12-python3.11" in several.output


def test_r_names_the_requirements_and_a_missing_input_says_how(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = invoke(["resolve", "-o", "build"])
    assert missing.exit_code == EXIT_USAGE and "-r FILE" in missing.output
    # `-r FILE` is the input: the error is about the file, not a runtime
    absent = invoke(["resolve", "-r", "requirements.txt", "-o", "build"])
    assert absent.exit_code == EXIT_INPUT and "requirements.txt does not exist" in absent.output
    two = invoke(["resolve", "a.txt", "-r", "b.txt", "-o", "build"])
    assert two.exit_code == EXIT_INPUT and "does not exist" in two.output and "Unknown runtime" not in two.output
    (tmp_path / "a.txt").write_text("alpha\n")
    typo = invoke(["resolve", "a.txt", "-r", "fc-python3.01", "-o", "build"])  # the old spelling, mistyped
    assert typo.exit_code == EXIT_INPUT and "Unknown runtime 'fc-python3.01'" in typo.output


def test_extra_and_group_need_a_project_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.txt").write_text("alpha\n")
    result = invoke(["resolve", "requirements.txt", "--extra", "fast", "-o", "build"])
    assert result.exit_code == EXIT_INPUT and "--extra and --group select from pyproject.toml" in result.output


def test_report_layout_split_measures_the_dependency_zip(tree):
    split = invoke(["report", str(tree), "--layout", "split", "--json", "--no-gate", "--no-step-summary"])
    code = invoke(["report", str(tree), "--layout", "code", "--json", "--no-gate", "--no-step-summary"])
    assert split.exit_code == EXIT_OK, split.output
    assert json.loads(split.stdout)["totals"] == json.loads(code.stdout)["totals"]
