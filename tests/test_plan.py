"""`--pack auto`: the plan, the artifacts it writes, their own limits and the
gate (offline, on the fixture bundle of tests/support/bundles.py)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.core.errors import InputError, SizeLimitError
from fcslim.pack.archive import pack
from fcslim.pack.artifacts import assign_limits, pack_auto
from fcslim.pack.plan import BUNDLE_FILES, plan_files, plan_limits, plan_pack, units_of
from fcslim.report.limits import check_artifacts
from fcslim.report.measure import build_report
from fcslim.target.profile import load_profile
from tests.support.bundles import dist_info, make_bundle, write

FC = load_profile("fc-python3.10")
AWS = load_profile("aws-python3.11")

pytestmark = pytest.mark.usefixtures("quiet")


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


def limited(profile, **limits):
    return replace(profile, limits=replace(profile.limits, **limits))


def sizes(bundle):
    report = build_report(bundle, FC)
    files = plan_files(report)
    fixed = sum(f.deflated for f in files if f.owner == BUNDLE_FILES)
    return report, files, fixed


def test_code_alone_when_it_fits(bundle):
    report, files, _ = sizes(bundle)
    plan = plan_pack(files, FC, plan_limits(FC))
    assert plan.layout == "code" and [a.kind for a in plan.artifacts] == ["code"]
    assert plan.artifacts[0].zipped_bytes == report.zip_bytes and plan.artifacts[0].mount == "/code"


def test_the_heaviest_distribution_moves_into_a_layer_with_its_files(bundle, tmp_path):
    report, files, fixed = sizes(bundle)
    tight = limited(FC, zipped_bytes=fixed + 4096)
    plan = plan_pack(files, tight, plan_limits(tight))
    assert plan.layout == "layers"
    code, layer = plan.artifacts
    assert (code.kind, code.mount, layer.kind, layer.mount) == ("code", "/code", "layer", "/opt")
    assert layer.distributions == ("alpha",) and layer.limit_bytes == 500 * 1024 ** 2
    assert {"alpha/_speed.cpython-310-x86_64-linux-gnu.so", "alpha/__pycache__/core.cpython-310.pyc",
            "bin/alpha-cli", "alpha-1.2.dist-info/RECORD"} <= set(layer.paths)
    assert {"lib/libfoo.so.1", "sitecustomize.py", "share/misc/magic.mgc"} <= set(code.paths)  # the bundle's own
    result = pack_auto(bundle, tmp_path / "out" / "app.zip", plan, tight)
    code_zip, layer_zip = result.archives
    assert layer_zip.path.name == "app.layer1.zip" and layer_zip.role == "layer"
    assert code_zip.size == code.zipped_bytes and layer_zip.size == layer.zipped_bytes  # predictions are exact
    names = zipfile.ZipFile(layer_zip.path).namelist()
    assert "python/alpha/core.py" in names and "python/alpha-1.2.dist-info/METADATA" in names
    assert "lib/libfoo.so.1" in zipfile.ZipFile(code_zip.path).namelist()
    # /code and /opt together hold exactly the bundle.
    unpacked = {n: zipfile.ZipFile(code_zip.path).read(n) for n in zipfile.ZipFile(code_zip.path).namelist()}
    unpacked.update({n[len("python/"):]: zipfile.ZipFile(layer_zip.path).read(n) for n in names})
    assert unpacked == {f.path: f.source.read_bytes() for f in result.listing.files}
    manifest = json.loads(result.manifest_path.read_text())
    moved = {f["path"]: f for f in manifest["files"]}["alpha/core.py"]
    assert moved["archive"] == "app.layer1.zip" and moved["archive_path"] == "python/alpha/core.py"
    assert manifest["layout"] == "layers"


def test_distributions_sharing_a_regular_package_move_together(tmp_path):
    root = tmp_path / "b"
    write(root / "pkg/__init__.py", "x" * 10)
    write(root / "pkg/one.py", "1" * 5000)
    write(root / "pkg/two.py", "2" * 100)
    write(root / "solo/__init__.py", "s" * 20)
    dist_info(root, "one", "1", ["pkg/__init__.py", "pkg/one.py"])
    dist_info(root, "two", "1", ["pkg/two.py"])
    dist_info(root, "solo", "1", ["solo/__init__.py"])
    units, fixed = units_of(plan_files(build_report(root, FC)))
    assert sorted(u.distributions for u in units) == [("one", "two"), ("solo",)]
    assert fixed.files == ()


def test_split_when_a_distribution_outgrows_a_layer_and_the_disk_check(bundle):
    _, files, fixed = sizes(bundle)
    tight = limited(FC, zipped_bytes=fixed + 4096, layer_zipped_bytes=2048)
    plan = plan_pack(files, tight, plan_limits(tight))
    assert plan.layout == "split" and [a.kind for a in plan.artifacts] == ["code", "deps"]
    deps = plan.artifacts[1]
    assert deps.mount == "url" and plan.disk_needed_bytes == deps.zipped_bytes + deps.unzipped_bytes
    assert "layer limit" in plan.attempts[1].reason
    no_disk = limited(tight, disk_bytes=1024, disk_bytes_max=10 * 1024 ** 3)
    with pytest.raises(SizeLimitError) as caught:
        plan_pack(files, no_disk, plan_limits(no_disk), advice=["opencv-python-headless instead of opencv-python"])
    text = str(caught.value)
    assert "--disk 1GiB" in text and "container image" in text and "--via oss" in text and "headless" in text
    assert plan_pack(files, no_disk, plan_limits(no_disk, disk="1GiB")).layout == "split"
    with pytest.raises(InputError, match="--disk"):
        plan_limits(no_disk, disk="11GiB")


def test_lambdas_total_unzipped_limit_rules_out_layers(bundle):
    _, files, fixed = sizes(bundle)
    total = sum(f.bytes for f in files)
    tight = limited(AWS, zipped_bytes=fixed + 4096, unzipped_bytes=total - 1)
    plan = plan_pack(files, tight, plan_limits(tight))
    assert plan.layout == "split" and "for all of them" in plan.attempts[1].reason


def test_each_artifact_is_gated_against_its_own_limit(bundle, tmp_path):
    split = pack(bundle, tmp_path / "s.zip", "split", FC)
    assign_limits(split, FC, plan_limits(FC))
    code, deps = split.archive("code"), split.archive("deps")
    assert (code.mount, code.limit_bytes, deps.mount, deps.limit_bytes) == ("/code", 100 * 1024 ** 2, "url",
                                                                           512 * 1024 ** 2)
    check_artifacts(split.archives, FC)  # a 100 MiB limit does not apply to the dependency zip
    small_disk = limited(FC, disk_bytes=deps.size)
    assign_limits(split, small_disk, plan_limits(small_disk))
    with pytest.raises(SizeLimitError, match=r"s\.deps\.zip \(deps\).*disk") as caught:
        check_artifacts(split.archives, small_disk)
    assert "--disk" in caught.value.hint
    layer = pack(bundle, tmp_path / "l.zip", "layer", FC)
    tiny_layer = limited(FC, layer_zipped_bytes=1024, zipped_bytes=10)  # the code limit does not gate a layer
    assign_limits(layer, tiny_layer, plan_limits(tiny_layer))
    with pytest.raises(SizeLimitError, match="one layer's zip"):
        check_artifacts(layer.archives, tiny_layer)


def test_cli_pack_auto_and_resolve_json_list_the_artifacts(bundle, tmp_path, links, cache, monkeypatch):
    from fcslim.cli import main

    runner = CliRunner()
    out = runner.invoke(main, ["pack", str(bundle), "--layout", "auto", "-o", str(tmp_path / "a.zip"),
                               "--handler", "main.handler"])
    assert out.exit_code == 0, out.output
    assert "next: deploy a.zip with handler main.handler" in out.stderr
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    (tmp_path / "requirements.txt").write_text("stable\n")
    res = runner.invoke(main, ["resolve", str(tmp_path / "requirements.txt"), "-R", "fc-python3.10", "-o",
                               str(tmp_path / "build"), "--no-index", "-f", str(links), "--no-fetch", "--no-slim",
                               "--no-verify", "--no-cache", "--pack", "auto", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    [artifact] = summary["artifacts"]
    assert artifact["kind"] == "code" and artifact["mount"] == "/code" and artifact["limit_bytes"] == 100 * 1024 ** 2
    assert artifact["path"] == str(tmp_path / "build.zip")
    assert artifact["zipped_bytes"] == Path(artifact["path"]).stat().st_size and artifact["unzipped_bytes"] > 0
    assert summary["plan"]["layout"] == "code"
