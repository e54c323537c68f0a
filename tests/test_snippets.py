"""s.yaml (fc3) and template.yml (Funcraft) snippets and the next steps.

The s.yaml props are checked against fc3's own props schema
(tests/support/fc3_props_schema.json, see the .txt beside it); template.yml is
checked by the real Funcraft client in test_fun_validate (npm, marked
network and slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import yaml

from fcslim.core.errors import InputError
from fcslim.pack.archive import pack
from fcslim.pack.artifacts import pack_auto
from fcslim.pack.plan import plan_files, plan_limits, plan_pack
from fcslim.pack.snippets import next_steps, resources_for, s_yaml_snippet, snippet, template_yml_snippet
from fcslim.report.measure import build_report
from fcslim.target.model import Limits
from fcslim.target.profile import load_profile
from tests.support.bundles import make_bundle

FC = load_profile("fc-python3.10")
AWS = load_profile("aws-python3.11")
# FC's python3 runtime (Python 3.6): the only Python 3 runtime Funcraft knows.
FC_PY3 = replace(FC, name="fc-python3", python=(3, 6), python_full_version="3.6.8", abi="cp36",
                 provider_runtime="python3")
SCHEMA = json.loads((Path(__file__).parent / "support" / "fc3_props_schema.json").read_text())

pytestmark = pytest.mark.usefixtures("quiet")  # conftest: progress off, restored after


def fc3_errors(props: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(props)]


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


def layered(bundle: Path, out: Path, profile=FC):
    """A code zip and a layer: alpha (the heaviest) moves out of the code zip."""
    report = build_report(bundle, profile)
    code_only = sum(f.deflated for f in report.files if not f.path.startswith(("alpha", "bin/")))
    tight = replace(profile, limits=replace(profile.limits, zipped_bytes=code_only + 4096))
    plan = plan_pack(plan_files(report), tight, plan_limits(tight))
    assert plan.layout == "layers"
    return pack_auto(bundle, out, plan, tight)


def test_every_layouts_s_yaml_passes_fc3s_props_schema(bundle, tmp_path):
    packs = {
        "code": pack(bundle, tmp_path / "code.zip", "code", FC),
        "layer": pack(bundle, tmp_path / "layer.zip", "layer", load_profile("fc-custom.debian10")),
        "split": pack(bundle, tmp_path / "split.zip", "split", FC, handler="index.handler"),
        "layers": layered(bundle, tmp_path / "auto.zip"),
    }
    for layout, result in packs.items():
        doc = yaml.safe_load(s_yaml_snippet(result, name="hello", handler="main.handler", region="cn-beijing"))
        assert doc["edition"] == "3.0.0" and doc["resources"]["hello"]["component"] == "fc3"
        props = doc["resources"]["hello"]["props"]
        assert fc3_errors(props) == [], layout
        assert props["timeout"] >= 60 and props["memorySize"] % 64 == 0 and props["memorySize"] >= 512


def test_split_wires_the_handler_through_the_loader_with_disk_and_initializer(bundle, tmp_path):
    split = pack(bundle, tmp_path / "fn.zip", "split", FC, handler="main.handler")
    assert split.deps_config["handler"] == "main.handler"
    props = yaml.safe_load(s_yaml_snippet(split, name="hello"))["resources"]["hello"]["props"]
    assert props["handler"] == "fcslim_loader.handler" and props["code"] == "./fn.zip"
    assert props["instanceLifecycleConfig"]["initializer"]["handler"] == "fcslim_loader.initializer"
    assert props["diskSize"] == 512  # a tiny bundle fits FC's default disk
    assert "fn.deps.zip" in props["environmentVariables"]["FCSLIM_DEPS_URL"]
    assert "FCSLIM_HANDLER" not in props["environmentVariables"]  # the loader's config names it
    bare = pack(bundle, tmp_path / "bare.zip", "split", FC)  # packed without --handler
    env = yaml.safe_load(s_yaml_snippet(bare, handler="app.main"))["resources"]["my-function"]["props"][
        "environmentVariables"]
    assert env["FCSLIM_HANDLER"] == "app.main"


def test_resources_grow_with_what_the_loader_unpacks(bundle, tmp_path):
    split = pack(bundle, tmp_path / "fn.zip", "split", FC)
    deps = split.archive("deps")
    small = resources_for(split)
    deps.size, deps.unzipped_bytes = 389 * 1024 ** 2, 1530 * 1024 ** 2  # the TensorFlow set's sizes
    big = resources_for(split)
    assert big.disk_mb == 10240 and small.disk_mb == 512
    assert big.memory_mb >= 1530 + 256 and big.memory_mb % 64 == 0
    assert big.initializer_timeout_s > small.initializer_timeout_s and big.timeout_s >= big.initializer_timeout_s
    props = yaml.safe_load(s_yaml_snippet(split))["resources"]["my-function"]["props"]
    assert fc3_errors(props) == []
    deps.unzipped_bytes = 11 * 1024 ** 3
    with pytest.raises(InputError, match="largest disk"):
        resources_for(split)


def test_layers_are_declared_in_order(bundle, tmp_path):
    result = layered(bundle, tmp_path / "auto.zip")
    layers = [a.path.name for a in result.archives if a.role == "layer"]
    props = yaml.safe_load(s_yaml_snippet(result))["resources"]["my-function"]["props"]
    assert len(props["layers"]) == len(layers) == 1 and props["handler"] == "index.handler"
    assert props["code"] == "./auto.zip"
    text = s_yaml_snippet(result)
    assert text.index("layer-1") < text.index("# auto.layer1.zip") and "diskSize" not in text


def test_funcraft_cannot_express_python39_and_up(bundle, tmp_path):
    result = pack(bundle, tmp_path / "fn.zip", "split", FC)
    with pytest.raises(InputError, match="Fun.*python3.10.*s.yaml") as caught:
        template_yml_snippet(result)
    assert "--snippet s.yaml" in caught.value.hint
    py3 = pack(bundle, tmp_path / "py3.zip", "split", FC_PY3, handler="index.handler")
    props = yaml.safe_load(template_yml_snippet(py3))["Resources"]["my-service"]["my-function"]["Properties"]
    assert props["Runtime"] == "python3" and props["Handler"] == "fcslim_loader.handler"
    assert props["Initializer"] == "fcslim_loader.initializer" and props["InitializationTimeout"] >= 30


def test_snippets_refuse_runtimes_that_are_not_fc(bundle, tmp_path):
    result = pack(bundle, tmp_path / "layer.zip", "layer", AWS, manifest=False)
    with pytest.raises(InputError, match="aws-python3.11"):
        snippet(result, "s.yaml")
    fc = pack(bundle, tmp_path / "code.zip", "code", FC_PY3, manifest=False)
    assert yaml.safe_load(snippet(fc, "template.yml"))["Resources"]["my-service"]["my-function"]["Properties"][
        "CodeUri"] == "./code.zip"
    with pytest.raises(InputError, match="Unknown snippet format"):
        snippet(fc, "serverless.yml")


def test_next_steps_are_two_or_three_lines_naming_the_handler(bundle, tmp_path):
    for result in (pack(bundle, tmp_path / "c.zip", "code", FC), pack(bundle, tmp_path / "s.zip", "split", FC),
                   layered(bundle, tmp_path / "l.zip")):
        lines = next_steps(result, handler="main.handler")
        assert 1 <= len(lines) <= 3 and all(line.startswith("next: ") for line in lines)
        assert "main.handler" in " ".join(lines)
    split = next_steps(pack(bundle, tmp_path / "s2.zip", "split", FC), handler="main.handler")
    assert "s2.deps.zip" in split[0] and "FCSLIM_DEPS_URL" in split[0] and "fcslim_loader.handler" in split[1]
    layers = next_steps(layered(bundle, tmp_path / "l2.zip"))
    assert "l2.layer1.zip" in layers[0] and "layer publish" in layers[0]


# -- the real Funcraft client ------------------------------------------------

FUN_VERSION = "3.6.24"  # Funcraft's last release


@pytest.fixture(scope="session")
def fun(cache_root) -> Path:
    """`fun` from the npm registry, installed once into the cache."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (apt-get install npm): Funcraft's `fun validate` cannot run")
    home = cache_root / "tools" / f"fun-{FUN_VERSION}"
    binary = home / "node_modules" / ".bin" / "fun"
    if not binary.exists():
        home.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(home),
                               f"@alicloud/fun@{FUN_VERSION}"], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return binary


def fun_validate(fun: Path, directory: Path, template: str) -> subprocess.CompletedProcess:
    (directory / "template.yml").write_text(template)
    env = dict(os.environ, HOME=str(directory), NO_COLOR="1", FORCE_COLOR="0")
    return subprocess.run([str(fun), "validate"], cwd=directory, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.network
@pytest.mark.slow
def test_fun_validate_accepts_the_templates_and_rejects_what_fcslim_refuses(fun, bundle, tmp_path):
    for layout in ("code", "split"):
        result = pack(bundle, tmp_path / f"{layout}.zip", layout, FC_PY3, handler="index.handler")
        where = tmp_path / layout
        where.mkdir()
        proc = fun_validate(fun, where, template_yml_snippet(result))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    result = layered(bundle, tmp_path / "auto.zip", FC_PY3)
    (tmp_path / "auto").mkdir()
    proc = fun_validate(fun, tmp_path / "auto", template_yml_snippet(result))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # What fcslim refuses to print, Fun rejects: a python3.9 runtime.
    text = template_yml_snippet(pack(bundle, tmp_path / "p.zip", "code", FC_PY3)).replace('"python3"', '"python3.9"')
    (tmp_path / "rejected").mkdir()
    proc = fun_validate(fun, tmp_path / "rejected", text)
    assert proc.returncode != 0 and "Runtime" in proc.stdout + proc.stderr
