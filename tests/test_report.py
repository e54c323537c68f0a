"""Size accounting, the gate and the renderers, on fixture trees of known sizes."""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli import main
from fcslim.core.errors import EXIT_SIZE, InputError, SizeLimitError
from fcslim.core.units import format_size, parse_size
from fcslim.report.limits import check_limits
from fcslim.pack.archive import pack
from fcslim.report.render import append_step_summary, render_json, render_markdown, render_text
from fcslim.pack.deflate import deflate_bytes
from fcslim.report.measure import SCHEMA, build_report
from fcslim.target.profile import load_profile
from tests.support.bundles import SIZES, dist_info_sizes, make_bundle, pseudo_random, write

REPO = Path(__file__).resolve().parent.parent
FC = load_profile("fc-python3.10")
AWS = load_profile("aws-python3.12")


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


def by_name(report):
    return {d.name: d for d in report.distributions}


def test_attribution_and_categories_have_the_known_sizes(bundle, quiet):
    report = build_report(bundle, FC)
    dists = by_name(report)
    alpha_files = ["alpha/__init__.py", "alpha/core.py", "alpha/_speed.cpython-310-x86_64-linux-gnu.so",
                   "alpha/table.dat", "alpha/__pycache__/core.cpython-310.pyc", "bin/alpha-cli"]
    assert dists["alpha"].bytes == sum(SIZES[p] for p in alpha_files) + dist_info_sizes(bundle, "alpha")
    assert dists["alpha"].version == "1.2" and dists["alpha"].kind == "wheel"
    # ns/ is shared by two distributions: each keeps only its own subpackage.
    assert dists["beta"].bytes == SIZES["ns/beta/__init__.py"] + dist_info_sizes(bundle, "beta")
    assert dists["gamma"].bytes == SIZES["ns/gamma/__init__.py"] + dist_info_sizes(bundle, "gamma")
    assert dists["libfoo1"].bytes == SIZES["lib/libfoo.so.1"]
    assert (dists["libfoo1"].kind, dists["libfoo1"].version) == ("debian", "1.0-1")
    assert dists["(system libraries)"].bytes == SIZES["lib/libbar.so.2"]
    assert dists["(unowned)"].bytes == SIZES["README-unowned.txt"]
    assert (dists["libmagic-mgc"].bytes, dists["libmagic-mgc"].kind) == (800, "debian")
    assert (dists["(fcslim hooks)"].bytes, dists["(fcslim hooks)"].kind) == (300, "fcslim")

    cats = {name: t.bytes for name, t in report.categories.items()}
    metadata = sum(dist_info_sizes(bundle, n) for n in ("alpha", "beta", "gamma"))
    assert cats == {
        "python": 1000 + 3000 + 900 + 400 + 600 + 300,
        "extensions": 5000,
        "libraries": 11000 + 13000,
        "data": 7000 + 120 + 250 + 800,
        "metadata": metadata,
    }
    on_disk = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and ".fcslim" not in p.parts)
    assert report.totals.bytes == on_disk
    assert all(not f.path.startswith(".fcslim") for f in report.files)
    assert report.libraries[0].path == "lib/libfoo.so.1" and report.libraries[0].bytes == 11000


def test_deflated_sizes_are_the_packs_sizes_byte_for_byte(bundle, tmp_path, quiet):
    for layout in ("code", "layer"):
        report = build_report(bundle, FC, layout=layout)
        out = pack(bundle, tmp_path / f"{layout}.zip", layout, FC, manifest=False)
        assert report.zip_bytes == out.archives[0].size == (tmp_path / f"{layout}.zip").stat().st_size
    with zipfile.ZipFile(tmp_path / "code.zip") as zf:
        stored = {i.filename: i.compress_size for i in zf.infolist()}
    assert {f.path: f.deflated for f in report.files} == stored
    # ...and the zip holds the report's own streams: raw deflate (or the file
    # as is, when deflate would not make it smaller), which inflates back.
    data = (bundle / "alpha/table.dat").read_bytes()
    facts, stream = deflate_bytes(data)
    assert facts.stored_size == stored["alpha/table.dat"]
    if facts.method == zipfile.ZIP_DEFLATED:
        assert zlib.decompress(stream, -15) == data
    with zipfile.ZipFile(tmp_path / "code.zip") as zf:
        assert zf.testzip() is None and zf.read("alpha/table.dat") == data


def test_largest_files_and_slim_summary(bundle, quiet):
    report = build_report(bundle, FC, top=3)
    largest = [f.path for f in report.largest]
    assert len(largest) == 3
    # pseudo-random data does not compress: the biggest such files lead.
    assert largest == ["lib/libbar.so.2", "lib/libfoo.so.1", "alpha/table.dat"]
    assert report.slim.before_bytes == 90000 and report.slim.saved_bytes == 90000 - 41270
    assert report.slim.rules[0]["files"] == 1


def test_parse_size_uses_powers_of_1024():
    assert parse_size("100MB") == 104857600 == FC.limits.zipped_bytes
    assert parse_size("50MiB") == 52428800 == AWS.limits.zipped_bytes
    assert parse_size("250M") == 262144000 == AWS.limits.unzipped_bytes
    assert parse_size("1024") == 1024
    assert parse_size("1.5K") == 1536
    assert parse_size(" 2 gb ") == 2 * 1024**3
    for bad in ("", "ten MB", "5TB", "-1M", "0"):
        with pytest.raises(InputError):
            parse_size(bad)
    assert format_size(1536) == "1.5 KiB" and format_size(-2048, signed=True) == "-2.0 KiB"


def test_limits_headroom_and_gate(bundle, quiet):
    report = build_report(bundle, AWS)
    limits = {c.name: c for c in report.limits}
    assert set(limits) == {"zipped", "unzipped"}
    assert limits["zipped"].headroom_bytes == AWS.limits.zipped_bytes - report.zip_bytes
    assert limits["unzipped"].measured_bytes == report.totals.bytes
    assert report.ok
    assert check_limits(report, AWS)  # within the profile's limits: no error

    with pytest.raises(SizeLimitError) as caught:
        check_limits(report, AWS, max_zip=report.zip_bytes - 1)
    error = caught.value
    assert error.exit_code == EXIT_SIZE == 9
    assert "over the --max-zip limit" in error.message and "by 1 B" in error.message
    assert "(system libraries)" in error.message and "lib/libbar.so.2" in error.message  # biggest contributors
    check_limits(report, AWS, max_zip=report.zip_bytes)  # exactly at the limit is fine

    with pytest.raises(SizeLimitError, match="unzipped"):
        check_limits(report, AWS, max_unzipped=report.totals.bytes - 1)


def test_fc_gates_on_the_api_limit_unless_told_oss(bundle, quiet):
    report = build_report(bundle, FC, max_zip="1K")
    gating = [c for c in report.limits if c.gating]
    assert [c.name for c in gating] == ["zipped"] and not report.ok
    oss = build_report(bundle, FC, max_zip="1K", via="oss")
    assert {c.name: c.gating for c in oss.limits} == {"zipped": False, "zipped_oss": True}
    with pytest.raises(SizeLimitError, match="object storage"):
        check_limits(oss, FC, max_zip="1K", via="oss")


def test_baseline_shows_what_grew(bundle, tmp_path, quiet):
    before = build_report(bundle, FC).to_dict(include_files=True)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(before))
    write(bundle / "alpha" / "big.bin", pseudo_random(20000, 3))
    (bundle / "README-unowned.txt").unlink()
    report = build_report(bundle, FC, baseline=old)
    rows = {c.name: c for c in report.baseline.distributions}
    assert rows["alpha"].delta_bytes == 20000
    assert rows["alpha"].delta_deflated > 19000
    assert rows["(unowned)"].delta_bytes == -250 and rows["(unowned)"].after_bytes == 0
    assert report.baseline.distributions[0].name == "alpha"  # biggest growth first
    assert "beta" not in rows  # unchanged rows are left out
    files = {c.name: c for c in report.baseline.files}
    assert files["alpha/big.bin"].before_bytes == 0 and files["alpha/big.bin"].after_bytes == 20000
    assert report.baseline.zip_after - report.baseline.zip_before == report.zip_bytes - before["totals"]["zip_bytes"]
    # A directory works as a baseline too.
    assert build_report(bundle, FC, baseline=bundle).baseline.distributions == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": 1}))
    with pytest.raises(InputError, match="not an fcslim report"):
        build_report(bundle, FC, baseline=bad)


# -- the JSON schema ----------------------------------------------------------

def _validate(value, schema, root, where="$"):
    """A small JSON Schema subset validator (type, const, enum, required,
    properties, additionalProperties, propertyNames, items, oneOf, minimum,
    maximum, $ref): enough for docs/report-schema.json without a dependency."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return _validate(value, root["$defs"][name], root, where)
    if "oneOf" in schema:
        passing = 0
        for option in schema["oneOf"]:
            try:
                _validate(value, option, root, where)
                passing += 1
            except AssertionError:
                pass
        assert passing == 1, f"{where}: matches {passing} of oneOf"
        return
    types = schema.get("type")
    if types:
        names = types if isinstance(types, list) else [types]
        checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
                  "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "null": lambda v: v is None,
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)}
        assert any(checks[t](value) for t in names), f"{where}: {value!r} is not {names}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} != {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "minimum" in schema:
        assert value >= schema["minimum"], f"{where}: {value} < {schema['minimum']}"
    if "maximum" in schema:
        assert value <= schema["maximum"], f"{where}: {value} > {schema['maximum']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key}"
        props = schema.get("properties", {})
        for key, item in value.items():
            if "propertyNames" in schema:
                _validate(key, schema["propertyNames"], root, f"{where}.{key}(name)")
            if key in props:
                _validate(item, props[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                raise AssertionError(f"{where}: unexpected key {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                _validate(item, schema["additionalProperties"], root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _validate(item, schema["items"], root, f"{where}[{i}]")


def test_json_output_matches_the_documented_schema(bundle, tmp_path, quiet):
    schema = json.loads((REPO / "docs" / "report-schema.json").read_text())
    old = build_report(bundle, FC).to_dict(include_files=True)
    write(bundle / "alpha" / "new.py", "x = 1\n" * 100)
    report = build_report(bundle, FC, max_zip="1K", baseline=old)
    data = json.loads(render_json(report, include_files=True))
    assert data["schema"] == SCHEMA == "fcslim.report/1"
    _validate(data, schema, schema)
    _validate(json.loads(render_json(build_report(bundle, None))), schema, schema)  # no profile, no baseline
    # The validator is not a rubber stamp.
    broken = dict(data, totals=dict(data["totals"], zip_bytes="big"))
    with pytest.raises(AssertionError, match="zip_bytes"):
        _validate(broken, schema, schema)
    extra = dict(data, surprise=1)
    with pytest.raises(AssertionError, match="surprise"):
        _validate(extra, schema, schema)


# -- renderers and the CLI ---------------------------------------------------------

def test_text_and_markdown_renderings(bundle, tmp_path, quiet):
    report = build_report(bundle, FC, max_zip="10K")
    text = render_text(report)
    assert "alpha" in text and "1.2" in text and "system libraries (fetched)" in text
    assert "OVER" in text and "lib/libbar.so.2" in text
    md = render_markdown(report)
    assert md.startswith("### fcslim bundle size (fc-python3.10): ❌")
    assert "| alpha | 1.2 |" in md and "**over**" in md
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert append_step_summary(md, {"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert summary.read_text() == "earlier step\n" + md
    assert append_step_summary(md, {}) is None


def test_cli_report_exit_codes_and_step_summary(bundle, tmp_path):
    summary = tmp_path / "summary.md"
    runner = CliRunner()
    ok = runner.invoke(main, ["report", str(bundle), "--json", "-q"], env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    assert "fcslim bundle size" in summary.read_text()
    over = runner.invoke(main, ["report", str(bundle), "--max-zip", "2K", "-q", "--no-step-summary"])
    assert over.exit_code == 9
    assert "Limits:" in over.stdout
    assert "over the --max-zip limit of 2.0 KiB" in over.stderr
    assert runner.invoke(main, ["report", str(bundle), "--max-zip", "2K", "--no-gate", "-q"]).exit_code == 0
    bad = runner.invoke(main, ["report", str(bundle), "--max-zip", "lots", "-q"])
    assert bad.exit_code == 3 and "Cannot read the size" in bad.stderr
    md = runner.invoke(main, ["report", str(bundle), "--markdown", "-q", "--no-step-summary"])
    assert md.stdout.startswith("### fcslim bundle size")


def _count_deflations(monkeypatch) -> list[str]:
    from fcslim.pack import deflate as deflate_mod

    deflated: list[str] = []
    real = deflate_mod.deflate_file
    monkeypatch.setattr(deflate_mod, "deflate_file", lambda path, store: deflated.append(str(path)) or real(path, store))
    return deflated


def test_a_file_is_deflated_once_until_it_changes(bundle, quiet, monkeypatch, tmp_path):
    import os

    # A cache of its own: the same tree measured by an earlier run would be
    # served whole from the remembered measurement (tests/test_results_cache.py).
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    first = build_report(bundle, load_profile("fc-python3.10"), reporter=quiet)
    deflated = _count_deflations(monkeypatch)
    again = build_report(bundle, load_profile("fc-python3.10"), reporter=quiet)
    assert deflated == [] and again.zip_bytes == first.zip_bytes
    changed = next(f for f in first.files if f.bytes > 0)
    target = bundle / changed.path
    target.write_bytes(b"x" * 10)
    os.utime(target, ns=(1, 1))
    third = build_report(bundle, load_profile("fc-python3.10"), reporter=quiet)
    assert [Path(p).relative_to(bundle).as_posix() for p in deflated] == [changed.path]
    assert next(f for f in third.files if f.path == changed.path).bytes == 10
    # Packing after measuring copies the streams: nothing is compressed again.
    pack(bundle, bundle.parent / "once.zip", "code", FC, manifest=False)
    assert len(deflated) == 1


def test_a_lost_stream_is_made_again(bundle, quiet, monkeypatch, tmp_path):
    import shutil

    from fcslim.cache.location import cache_subdir
    from fcslim.pack.deflate import codec

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    first = build_report(bundle, FC, reporter=quiet)
    shutil.rmtree(cache_subdir("deflate") / codec())
    deflated = _count_deflations(monkeypatch)
    out = pack(bundle, tmp_path / "again.zip", "code", FC, manifest=False)
    assert out.archives[0].size == first.zip_bytes
    assert len(deflated) == sum(1 for f in first.files if f.deflated < f.bytes)
    with zipfile.ZipFile(tmp_path / "again.zip") as zf:
        assert zf.testzip() is None


def test_hard_linked_files_are_measured_once_across_trees(tmp_path, quiet, monkeypatch):
    """Files hard-linked out of a cache (uv's, the bundle cache) are the same
    inode in every build: the stream store knows them."""
    import os

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    store = tmp_path / "store"
    store.mkdir()
    (store / "big.py").write_bytes(pseudo_random(50_000, seed=3))
    for name in ("a", "b"):
        (tmp_path / name / "pkg").mkdir(parents=True)
        os.link(store / "big.py", tmp_path / name / "pkg" / "big.py")
    first = build_report(tmp_path / "a", FC, reporter=quiet)
    deflated = _count_deflations(monkeypatch)
    second = build_report(tmp_path / "b", FC, reporter=quiet)
    assert deflated == []
    assert second.zip_bytes == first.zip_bytes
    (tmp_path / "b" / "pkg" / "big.py").unlink()
    (tmp_path / "b" / "pkg" / "big.py").write_bytes(pseudo_random(50_000, seed=7))
    build_report(tmp_path / "b", FC, reporter=quiet)
    assert len(deflated) == 1
