"""Manifest and `--from s.yaml` (snippets: tests/test_snippets.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fcslim.core.errors import InputError, UnknownRuntimeError
from fcslim.pack.handoff import build_manifest, read_serverless_devs, required_environment
from fcslim.pack.archive import pack
from fcslim.target.profile import load_profile
from tests.support.bundles import SIZES, make_bundle, write

FC = load_profile("fc-python3.10")
AWS = load_profile("aws-python3.11")


pytestmark = pytest.mark.usefixtures("quiet")  # conftest: progress off, restored after


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


def test_manifest_describes_the_pack(bundle, tmp_path):
    result = pack(bundle, tmp_path / "out" / "app.zip", "code", FC)
    assert result.manifest_path == tmp_path / "out" / "app.zip.manifest.json"
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["schema"] == "fcslim.manifest/1"
    assert manifest["runtime"]["name"] == "fc-python3.10" and manifest["layout"] == "code"
    [archive] = manifest["archives"]
    zip_bytes = (tmp_path / "out" / "app.zip").read_bytes()
    assert archive["sha256"] == hashlib.sha256(zip_bytes).hexdigest() and archive["size"] == len(zip_bytes)
    files = {f["path"]: f for f in manifest["files"]}
    assert files["alpha/table.dat"]["size"] == SIZES["alpha/table.dat"]
    assert files["alpha/table.dat"]["sha256"] == hashlib.sha256((bundle / "alpha/table.dat").read_bytes()).hexdigest()
    assert files["bin/alpha-cli"]["executable"] is True
    assert not any(p.startswith(".fcslim") for p in files)
    assert {d["name"]: d["version"] for d in manifest["distributions"]} == {"alpha": "1.2", "beta": "2.0", "gamma": "3.0"}
    assert manifest["libraries"][0]["package"] == "libfoo1"
    assert manifest["data_files"][0]["path"] == "share/misc/magic.mgc"
    assert manifest["bundle_environment"] == {"MAGIC": "share/misc/magic.mgc"}
    assert manifest["install_locations"] == {"python": "/code", "libraries": "/code/lib"}
    assert manifest["environment"] == {}  # FC already searches /code and /code/lib


def test_layer_manifest_maps_files_under_python(bundle, tmp_path):
    result = pack(bundle, tmp_path / "layer.zip", "layer", AWS)
    manifest = build_manifest(result)
    files = {f["path"]: f["archive_path"] for f in manifest["files"]}
    assert files["alpha/core.py"] == "python/alpha/core.py" and files["lib/libfoo.so.1"] == "lib/libfoo.so.1"
    assert manifest["install_locations"] == {"python": "/opt/python", "libraries": "/opt/lib"}
    assert manifest["environment"] == {}  # Lambda searches /opt/python and /opt/lib


def test_required_environment_names_missing_search_paths():
    from dataclasses import replace

    bare = replace(FC, python_path=("/code",), library_path=("/usr/lib",))
    env = required_environment("layer", bare, has_libraries=True)
    assert env == {"PYTHONPATH": "/code:/opt/python", "LD_LIBRARY_PATH": "/usr/lib:/opt/lib"}
    assert required_environment("layer", bare, has_libraries=False) == {"PYTHONPATH": "/code:/opt/python"}
    config = {"url": None, "url_env": "DEPS", "archive": "a.deps.zip"}
    assert list(required_environment("split", FC, True, config)) == ["DEPS"]
    assert required_environment("split", FC, True, dict(config, url="https://x/a.zip")) == {}


FC3 = """edition: 3.0.0
name: app
vars:
  region: cn-hangzhou
resources:
  api:
    component: fc3
    props:
      region: ${vars.region}
      functionName: api-fn
      runtime: custom.debian10
      handler: app.handler
      code: ./src
  worker:
    component: fc3
    props:
      runtime: python3.9
      code:
        ossBucketName: bucket
        ossObjectName: code.zip
"""

LEGACY = """edition: 1.0.0
services:
  demo:
    component: devsapp/fc
    props:
      region: cn-shenzhen
      service:
        name: svc
      function:
        name: fn
        runtime: python3.9
        codeUri: ./code
        handler: index.handler
"""


def test_read_serverless_devs_fc3_and_legacy(tmp_path):
    (tmp_path / "src").mkdir()
    write(tmp_path / "s.yaml", FC3)
    api = read_serverless_devs(tmp_path / "s.yaml", "api")
    assert (api.runtime, api.profile_name, api.code_dir) == ("custom.debian10", "fc-custom.debian10", tmp_path / "src")
    assert (api.handler, api.function_name) == ("app.handler", "api-fn")
    worker = read_serverless_devs(tmp_path / "s.yaml", "worker")
    assert worker.profile_name == "fc-python3.9" and worker.code_dir is None  # code on OSS
    with pytest.raises(InputError, match="several functions: api, worker"):
        read_serverless_devs(tmp_path / "s.yaml")
    with pytest.raises(InputError, match="no function resource 'nope'"):
        read_serverless_devs(tmp_path / "s.yaml", "nope")
    (tmp_path / "code").mkdir()
    write(tmp_path / "legacy.yaml", LEGACY)
    demo = read_serverless_devs(tmp_path / "legacy.yaml")
    assert (demo.resource, demo.profile_name, demo.code_dir, demo.region) == (
        "demo", "fc-python3.9", tmp_path / "code", "cn-shenzhen")


def test_read_serverless_devs_errors(tmp_path):
    write(tmp_path / "old.yaml", FC3.replace("custom.debian10", "python2.7"))
    with pytest.raises(UnknownRuntimeError, match="python2.7") as caught:
        read_serverless_devs(tmp_path / "old.yaml", "api")
    assert "python3.10" in caught.value.hint
    write(tmp_path / "broken.yaml", "resources: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        read_serverless_devs(tmp_path / "broken.yaml")
    write(tmp_path / "empty.yaml", "edition: 3.0.0\n")
    with pytest.raises(InputError, match="no Function Compute function"):
        read_serverless_devs(tmp_path / "empty.yaml")
