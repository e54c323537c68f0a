"""Deterministic zips and layouts."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.pack import zipwriter
from fcslim.cli import main
from fcslim.core.errors import InputError, LocationError, PackError
from fcslim.pack.archive import pack
from fcslim.pack.tree import list_tree
from fcslim.pack.zipwriter import ZIP_EPOCH, zip_date_epoch
from fcslim.target.profile import load_profile
from tests.support.bundles import make_bundle, pseudo_random, write

FC = load_profile("fc-python3.10")


pytestmark = pytest.mark.usefixtures("quiet")  # conftest: progress off, restored after


@pytest.fixture
def bundle(tmp_path) -> Path:
    root = make_bundle(tmp_path / "bundle")
    os.symlink("libfoo.so.1", root / "lib" / "libfoo.so")  # in-tree link: stored as a copy
    os.symlink("/etc/hostname", root / "alpha" / "outside")  # leaves the bundle: left out
    os.symlink("missing.py", root / "alpha" / "dangling.py")  # points nowhere: left out
    os.symlink("..", root / "ns" / "loop")  # a directory loop: left out
    (root / "empty" / "dir").mkdir(parents=True)
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_contents(root: Path) -> dict[str, bytes]:
    """What a runtime should see: every stored file's bytes, links dereferenced."""
    return {f.path: f.source.read_bytes() for f in list_tree(root).files}


def test_two_packs_are_byte_identical_whatever_the_mtimes_and_modes(bundle, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = pack(bundle, tmp_path / "one.zip", "code", FC).archives[0]
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (time.time() - 86400 * 400, time.time() - 86400 * 400))
    os.chmod(bundle / "alpha" / "core.py", 0o600)  # group/other bits are not kept
    os.chmod(bundle / "alpha" / "table.dat", 0o664)
    second = pack(bundle, tmp_path / "two.zip", "code", FC).archives[0]
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert first.sha256 == second.sha256 == digest(tmp_path / "one.zip")


def test_a_pack_unzips_to_exactly_the_bundle(bundle, tmp_path):
    out = tmp_path / "code.zip"
    result = pack(bundle, out, "code", FC)
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        unpacked = {i.filename: zf.read(i) for i in zf.infolist()}
        names = zf.namelist()
    assert names == sorted(names)
    assert not any(n.endswith("/") for n in names)  # no directory entries
    expected = {}
    for path in bundle.rglob("*"):
        rel = path.relative_to(bundle).as_posix()
        if rel.startswith(".fcslim") or path.is_dir() or rel in {"alpha/outside", "alpha/dangling.py"} \
                or rel.startswith("ns/loop"):
            continue
        expected[rel] = path.read_bytes()
    assert unpacked == expected
    assert unpacked["lib/libfoo.so"] == (bundle / "lib" / "libfoo.so.1").read_bytes()
    assert {s.path: s.reason for s in result.skipped_links} == {
        "alpha/outside": "points outside the bundle",
        "alpha/dangling.py": "points to nothing",
        "ns/loop": "makes a directory loop",
    }
    assert "empty/dir" in result.empty_dirs
    assert result.archives[0].entries == len(expected)
    assert result.archives[0].unzipped_bytes == sum(len(v) for v in expected.values())


def test_modes_dates_and_compression_are_normalised(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000001")  # 2023-11-14 22:13:21 UTC
    out = tmp_path / "code.zip"
    pack(bundle, out, "code", FC)
    with zipfile.ZipFile(out) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert {i.date_time for i in infos.values()} == {(2023, 11, 14, 22, 13, 20)}
    assert stat.S_IMODE(infos["bin/alpha-cli"].external_attr >> 16) == 0o755
    assert stat.S_IMODE(infos["alpha/core.py"].external_attr >> 16) == 0o644
    assert all(stat.S_ISREG(i.external_attr >> 16) and i.create_system == 3 for i in infos.values())
    # Deflated where that makes an entry smaller, else stored as is.
    assert {i.compress_type for i in infos.values()} <= {zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED}
    assert all((i.compress_type == zipfile.ZIP_DEFLATED) == (i.compress_size < i.file_size) or i.file_size == 0
               for i in infos.values())
    assert all(i.extra == b"" for i in infos.values())


def test_source_date_epoch_is_clamped_and_checked(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert zip_date_epoch() == ZIP_EPOCH
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert zip_date_epoch() == ZIP_EPOCH
    assert zip_date_epoch(1700000000) == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(InputError, match="SOURCE_DATE_EPOCH"):
        zip_date_epoch()


def test_layer_layout_puts_packages_under_python(bundle, tmp_path):
    out = tmp_path / "layer.zip"
    pack(bundle, out, "layer", FC)
    names = zipfile.ZipFile(out).namelist()
    assert "python/alpha/__init__.py" in names and "python/alpha-1.2.dist-info/RECORD" in names
    assert "lib/libfoo.so.1" in names and "python/lib/libfoo.so.1" not in names
    assert all(n.startswith(("python/", "lib/")) for n in names)
    with pytest.raises(InputError, match="layer"):
        pack(bundle, tmp_path / "l2.zip", "layer", FC, code_dir=tmp_path)


def test_split_layout_writes_a_loader_and_a_verifiable_dependency_zip(bundle, tmp_path):
    result = pack(bundle, tmp_path / "fn.zip", "split", FC)
    deps = tmp_path / "fn.deps.zip"
    pack(bundle, tmp_path / "plain.zip", "code", FC, manifest=False)
    assert deps.read_bytes() == (tmp_path / "plain.zip").read_bytes()  # the deps zip is the code layout
    with zipfile.ZipFile(tmp_path / "fn.zip") as zf:
        assert zf.namelist() == ["fcslim_deps.json", "fcslim_loader.py"]
        config = json.loads(zf.read("fcslim_deps.json"))
        loader = zf.read("fcslim_loader.py").decode()
    assert config["sha256"] == digest(deps) and config["size"] == deps.stat().st_size
    assert config["archive"] == "fn.deps.zip" and config["url"] is None and config["url_env"] == "FCSLIM_DEPS_URL"
    assert "def load(" in loader and "import fcntl" in loader
    assert [a.role for a in result.archives] == ["code", "deps"]
    # Repacking gives the same code zip too (the config embeds the deps hash).
    again = pack(bundle, tmp_path / "fn2.zip", "split", FC, deps_output=tmp_path / "d2.zip")
    assert again.archive("deps").sha256 == result.archive("deps").sha256
    assert json.loads(zipfile.ZipFile(tmp_path / "fn2.zip").read("fcslim_deps.json"))["archive"] == "d2.zip"


def test_function_code_is_added_to_the_code_zip(bundle, tmp_path):
    code = tmp_path / "code"
    write(code / "index.py", "def handler(event, context):\n    return 'ok'\n")
    pack(bundle, tmp_path / "app.zip", "code", FC, code_dir=code)
    assert "index.py" in zipfile.ZipFile(tmp_path / "app.zip").namelist()
    write(code / "alpha" / "core.py", "clash")
    with pytest.raises(PackError, match="alpha/core.py"):
        pack(bundle, tmp_path / "clash.zip", "code", FC, code_dir=code)
    assert not (tmp_path / "clash.zip").exists() and not (tmp_path / "clash.zip.tmp").exists()


def test_a_failed_pack_leaves_the_previous_zip_alone(bundle, tmp_path, monkeypatch):
    out = tmp_path / "code.zip"
    pack(bundle, out, "code", FC, manifest=False)
    before = out.read_bytes()

    def broken(self, entry, chunks):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipwriter.ZipWriter, "add", broken)
    with pytest.raises(LocationError, match="file system is full") as caught:
        pack(bundle, out, "code", FC, manifest=False)
    assert caught.value.exit_code == 11 and str(out) in str(caught.value)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "code.zip"]  # no temporary file left


def test_refuses_an_output_inside_the_bundle_and_unknown_layouts(bundle):
    with pytest.raises(InputError, match="inside the bundle"):
        pack(bundle, bundle / "out.zip", "code", FC)
    with pytest.raises(InputError, match="layout"):
        pack(bundle, bundle.parent / "x.zip", "tarball", FC)


def test_cli_pack_with_from_s_yaml(bundle, tmp_path):
    project = tmp_path / "project"
    write(project / "code" / "index.py", "def handler(e, c):\n    return 1\n")
    write(project / "s.yaml", """edition: 3.0.0
name: demo
resources:
  hello:
    component: fc3
    props:
      region: cn-shanghai
      functionName: hello
      runtime: python3.12
      handler: index.handler
      code: ./code
""")
    out = tmp_path / "dist" / "app.zip"
    result = CliRunner().invoke(main, ["pack", str(bundle), "-o", str(out), "--from", str(project / "s.yaml"),
                                       "--snippet", "s.yaml", "-q"])
    assert result.exit_code == 0, result.output
    assert "index.py" in zipfile.ZipFile(out).namelist()
    manifest = json.loads(out.with_name("app.zip.manifest.json").read_text())
    assert manifest["runtime"]["name"] == "fc-python3.12"
    assert 'runtime: "python3.12"' in result.stdout and 'functionName: "hello"' in result.stdout
    over = CliRunner().invoke(main, ["pack", str(bundle), "-o", str(tmp_path / "o.zip"), "--max-zip", "4K", "-q"])
    assert over.exit_code == 9 and "Biggest contributors" in over.stderr
    assert (tmp_path / "o.zip").exists()  # written, then judged


def test_zip_size_is_exact_past_65535_entries(tmp_path):
    from fcslim.pack.archive import ZipMember, write_zip, zip_size

    members = [ZipMember(f"m/{i:05d}.py", 1, data=b"x") for i in range(65536)]
    archive = write_zip(members, tmp_path / "many.zip")
    deflated = 1  # one byte is stored as is: deflate would make it 3
    predicted = zip_size((m.name, 1, deflated) for m in members)
    assert archive.size == predicted == (tmp_path / "many.zip").stat().st_size
    assert zip_size((m.name, 1, deflated) for m in members[:65535]) == predicted - (30 + 46 + 2 * 10 + deflated) - 76
    with zipfile.ZipFile(tmp_path / "many.zip") as zf:
        assert len(zf.infolist()) == 65536 and zf.read("m/65535.py") == b"x"


def test_zip64_forms_are_written_and_read_back(tmp_path, monkeypatch):
    """Sizes, offsets and counts past the zip limits (lowered here) take the
    zip64 forms, which zipfile and unzip read; the predicted size stays exact."""
    import shutil
    import subprocess

    from fcslim.pack.archive import ZipMember, write_zip, zip_size

    monkeypatch.setattr(zipwriter, "ZIP64_BYTES", 100)
    monkeypatch.setattr(zipwriter, "ZIP64_ENTRIES", 2)
    data = {"a.txt": b"hello " * 500, "b/c.bin": pseudo_random(3000, seed=5), "d": b"", "\u00fc.py": b"x = 1\n"}
    members = [ZipMember(name, len(body), data=body) for name, body in data.items()]
    archive = write_zip(members, tmp_path / "z64.zip")
    with zipfile.ZipFile(tmp_path / "z64.zip") as zf:
        assert zf.testzip() is None
        assert {name: zf.read(name) for name in zf.namelist()} == data
        stored = {i.filename: i.compress_size for i in zf.infolist()}
    assert archive.size == zip_size((name, len(body), stored[name]) for name, body in data.items())
    if shutil.which("unzip"):
        assert subprocess.run(["unzip", "-tq", str(tmp_path / "z64.zip")], capture_output=True).returncode == 0
