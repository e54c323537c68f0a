"""Verbs that read a bundle check it against the runtime in its own record
(.fcslim/install.json) unless --runtime is given."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fcslim.core.errors import ProfileError
from fcslim.target.profile import bundle_profile, load_profile, runtime_for
from tests.support.bundles import make_bundle, write


@pytest.fixture
def bundle312(tmp_path):
    root = make_bundle(tmp_path / "build312")
    profile = load_profile("fc-python3.12")
    write(root / ".fcslim" / "install.json", json.dumps({"schema": 1, "profile": profile.to_dict(),
                                                         "distributions": []}))
    return root


def test_the_record_names_the_runtime(bundle312, tmp_path):
    assert bundle_profile(bundle312) == load_profile("fc-python3.12")
    assert runtime_for(None, bundle312).name == "fc-python3.12"
    assert runtime_for("aws-python3.11", bundle312).name == "aws-python3.11"
    assert runtime_for(None, tmp_path).name == "fc-python3.10"  # no record: the default
    write(bundle312 / ".fcslim" / "install.json", "{broken")
    with pytest.raises(ProfileError, match="install.json"):
        bundle_profile(bundle312)


def test_report_scan_and_pack_use_the_recorded_runtime(bundle312, tmp_path):
    from fcslim.cli import main

    runner = CliRunner()
    report = runner.invoke(main, ["report", str(bundle312), "--json", "--no-step-summary"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["runtime"] == "fc-python3.12"
    scan = runner.invoke(main, ["scan", str(bundle312)])
    assert "fc-python3.12" in scan.output
    other = runner.invoke(main, ["report", str(bundle312), "--json", "--no-step-summary", "-R", "fc-python3.10"])
    assert json.loads(other.stdout)["runtime"] == "fc-python3.10"
    packed = runner.invoke(main, ["pack", str(bundle312), "-o", str(tmp_path / "p.zip"), "-q"])
    assert packed.exit_code == 0, packed.output
    assert json.loads((tmp_path / "p.zip.manifest.json").read_text())["runtime"]["name"] == "fc-python3.12"
