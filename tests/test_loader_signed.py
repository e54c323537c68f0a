"""`fcslim pack --layout split --upload s3://...` and the loader's signed GET,
against a real S3-compatible server on loopback (moto, signatures and IAM
policies enforced), on the host and in a clean Debian 11 root."""

from __future__ import annotations

import datetime
import json
import shutil
import uuid
import zipfile

import pytest

from fcslim.core import progress
from fcslim.pack import loader_signing
from fcslim.pack import loader_template as lt
from fcslim.pack.archive import pack
from fcslim.pack.loader import SIGNING_MODULE
from tests.support.split_world import BULLSEYE, RACE, served, split  # noqa: F401  (fixtures)

pytestmark = pytest.mark.objectstore


def test_signer_matches_botocore():
    """The loader's stdlib SigV4 against botocore's own signer, same instant and credentials."""
    pytest.importorskip("botocore")
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    when = datetime.datetime(2026, 11, 25, 8, 30, 15, tzinfo=datetime.timezone.utc)
    url = "https://fcslim-ci.s3.eu-west-1.amazonaws.com/deps/a%20b/0123abc.zip"
    ours = loader_signing.sign_get(url, "eu-west-1", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   token="FwoGZXIvYXdzE//token==", now=when)
    request = AWSRequest(method="GET", url=url)
    signer = auth.S3SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                          "FwoGZXIvYXdzE//token=="), "s3", "eu-west-1")
    original = auth.get_current_datetime
    auth.get_current_datetime = lambda: when.replace(tzinfo=None)
    try:
        signer.add_auth(request)
    finally:
        auth.get_current_datetime = original
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]


@pytest.fixture
def uploaded(split, s3_env, tmp_path):  # noqa: F811
    """The split bundle packed with --upload to a fresh prefix."""
    progress.configure(quiet=True)
    prefix = f"deps-{uuid.uuid4().hex[:8]}"
    result = pack(split["bundle"], tmp_path / "fn.zip", "split", BULLSEYE, upload=f"s3://{s3_env.bucket}/{prefix}/")
    progress.configure()
    code = tmp_path / "code"
    with zipfile.ZipFile(tmp_path / "fn.zip") as zf:
        zf.extractall(code)
    config = json.loads((code / "fcslim_deps.json").read_text())
    return {"result": result, "code": code, "config": config, "key": f"{prefix}/{config['sha256']}.zip"}


def function_env(monkeypatch, identity) -> None:
    """The function's runtime: its role's temporary credentials, nothing of the builder's."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "FCSLIM_DEPS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", identity.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", identity.secret_key)
    if identity.token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", identity.token)


def test_upload_writes_the_zip_under_its_hash_and_the_loader_config(uploaded, s3_env):
    config = uploaded["config"]
    body = s3_env.client().get_object(Bucket=s3_env.bucket, Key=uploaded["key"])["Body"].read()
    assert body == uploaded["result"].archive("deps").path.read_bytes()
    assert config["object"] == {"scheme": "s3", "bucket": s3_env.bucket, "key": uploaded["key"],
                                "region": "us-east-1", "endpoint": s3_env.endpoint, "addressing": "path"}
    assert (uploaded["code"] / f"{SIGNING_MODULE}.py").is_file()


def test_signed_fetch_with_the_functions_temporary_credentials(uploaded, s3_env, monkeypatch, tmp_path):
    function_env(monkeypatch, s3_env.assume_function_role())
    (tmp_path / "tmp").mkdir()
    base = lt.install(uploaded["config"], tmp_dir=str(tmp_path / "tmp"))
    assert (tmp_path / "tmp" / f"fcslim-deps-{uploaded['config']['sha256']}" / "calc" / "__init__.py").is_file()
    assert base.endswith(uploaded["config"]["sha256"])


def test_wrong_credentials_missing_and_corrupted_objects_are_one_paragraph(uploaded, s3_env, monkeypatch, tmp_path):
    config, sha = uploaded["config"], uploaded["config"]["sha256"]
    tmp = tmp_path / "fn-tmp"
    tmp.mkdir()
    where = f"s3://{s3_env.bucket}/{uploaded['key']}"
    role = s3_env.assume_function_role()
    function_env(monkeypatch, role)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(lt.DependencyLoadError) as refused:
        lt.install(config, tmp_dir=str(tmp))
    assert "HTTP 403" in str(refused.value) and where in str(refused.value) and sha in str(refused.value)

    function_env(monkeypatch, role)
    body = bytearray(s3_env.client().get_object(Bucket=s3_env.bucket, Key=uploaded["key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3_env.client().put_object(Bucket=s3_env.bucket, Key=uploaded["key"], Body=bytes(body))
    with pytest.raises(lt.DependencyLoadError, match="does not match") as corrupt:
        lt.install(config, tmp_dir=str(tmp))
    assert where in str(corrupt.value) and sha in str(corrupt.value) and "\n" not in str(corrupt.value)

    s3_env.client().delete_object(Bucket=s3_env.bucket, Key=uploaded["key"])
    with pytest.raises(lt.DependencyLoadError) as missing:
        lt.install(config, tmp_dir=str(tmp))
    assert where in str(missing.value) and sha in str(missing.value) and "HTTP 4" in str(missing.value)
    assert [p.name for p in tmp.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.rootfs
def test_split_loader_in_bullseye_signed_and_presigned(uploaded, s3_env, run_in_bullseye, tmp_path):
    code = tmp_path / "root-code"
    shutil.copytree(uploaded["code"], code)
    (code / "race.py").write_text(RACE)
    sha = uploaded["config"]["sha256"]
    role = s3_env.assume_function_role()
    signed = run_in_bullseye(code, ["python3", "/code/race.py", "ok"], env={
        "AWS_ACCESS_KEY_ID": role.access_key, "AWS_SECRET_ACCESS_KEY": role.secret_key,
        "AWS_SESSION_TOKEN": role.token})
    assert signed.returncode == 0, signed.stderr
    assert [line for line in signed.stdout.splitlines() if line.startswith("RESULT")] == \
        [f"RESULT 0 42 /tmp/fcslim-deps-{sha} | "] * 2, signed.stdout

    presigned = s3_env.client().generate_presigned_url(
        "get_object", Params={"Bucket": s3_env.bucket, "Key": uploaded["key"]}, ExpiresIn=300)
    with s3_env.open_access():  # moto checks header signatures only
        run = run_in_bullseye(code, ["python3", "/code/race.py", "ok"], env={"FCSLIM_DEPS_URL": presigned})
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stdout.splitlines() if line.startswith("RESULT")] == \
        [f"RESULT 0 42 /tmp/fcslim-deps-{sha} | "] * 2, run.stdout


def test_the_signing_half_is_python36_and_stdlib_only():
    import ast
    import sys

    from fcslim.pack.loader import signing_source

    tree = ast.parse(signing_source(), feature_version=(3, 6))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
        assert not isinstance(node, (ast.NamedExpr, ast.FormattedValue))
    assert imported <= set(sys.stdlib_module_names)


def test_fc_credentials_sign_an_oss_request_virtual_hosted():
    obj = {"scheme": "oss", "bucket": "deps-bucket", "key": "fn/ab.zip", "region": "cn-hangzhou",
           "endpoint": "https://s3.oss-cn-hangzhou.aliyuncs.com", "addressing": "virtual"}
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret",
           "ALIBABA_CLOUD_SECURITY_TOKEN": "token", "AWS_ACCESS_KEY_ID": "not-for-oss"}
    url, headers, signed = loader_signing.object_request(obj, env)
    assert signed and url == "https://deps-bucket.s3.oss-cn-hangzhou.aliyuncs.com/fn/ab.zip"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=STS.id/")
    assert "/cn-hangzhou/s3/aws4_request" in headers["Authorization"]
    assert headers["x-amz-security-token"] == "token"

    class Credentials:  # FC's context.credentials, as the initializer and handler receive it
        access_key_id, access_key_secret, security_token = "ctx.id", "ctx-secret", "ctx-token"

    class Context:
        credentials = Credentials()

    _, from_context, _ = loader_signing.object_request(obj, {"FCSLIM_DEPS_ENDPOINT": "https://oss.example"},
                                                       context=Context())
    assert "Credential=ctx.id/" in from_context["Authorization"]
    public_url, none, signed = loader_signing.object_request(obj, {})
    assert not signed and none == {} and public_url.startswith("https://deps-bucket.")
