"""Runners sharing one remote cache (moto on loopback, signatures enforced):
`fcslim resolve` end to end on the offline layer's tiny wheels, each runner
with its own empty local cache, as CI machines start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.objectstore


def tree_bytes(root: Path) -> dict[str, tuple[bytes, bool]]:
    # bytes and the execute bit (a restored bundle is hard-linked from read-only cache files)
    return {p.relative_to(root).as_posix(): (p.read_bytes(), bool(p.stat().st_mode & 0o111))
            for p in sorted(root.rglob("*")) if p.is_file() and ".fcslim" not in p.relative_to(root).parts}


def resolve(project: Path, links: Path, name: str, env: dict[str, str], *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "fcslim", "resolve", str(project / "requirements.txt"), "-R", "fc-python3.10",
            "-o", str(project / name), "--no-index", "-f", str(links), "--no-fetch", "--no-verify",
            "--pack", "code", "--pack-output", str(project / f"{name}.zip"), "--json", *extra]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return {"json": json.loads(out), "stderr": err}


@pytest.fixture
def runner_env(s3_env, tmp_path):
    def env_for(name: str, **more: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("FCSLIM_CACHE_URL_REQUIRED", None)
        env.update(s3_env.writer.env(s3_env.endpoint))
        env.update({"FCSLIM_CACHE_DIR": str(tmp_path / f"cache-{name}"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "NO_COLOR": "1"})
        env.update(more)
        return env

    return env_for


def test_two_concurrent_runners_share_a_remote_and_a_fresh_runner_restores_the_same_bytes(
        tmp_path, links, runner_env, s3_env):
    (tmp_path / "requirements.txt").write_text("needs-backport\nstable\n")
    url = f"s3://{s3_env.bucket}/builds-{uuid.uuid4().hex[:8]}/"
    first = resolve(tmp_path, links, "out1", runner_env("1", FCSLIM_CACHE_URL=url))
    second = resolve(tmp_path, links, "out2", runner_env("2", FCSLIM_CACHE_URL=url))
    one, two = finish(first), finish(second)
    assert "remote cache" not in one["stderr"] + two["stderr"]  # nobody degraded
    assert tree_bytes(tmp_path / "out1") == tree_bytes(tmp_path / "out2")

    # A fresh runner: empty local cache, warm remote.
    third = finish(resolve(tmp_path, links, "out3", runner_env("3", FCSLIM_CACHE_URL=url)))
    assert third["json"]["cached"] is True
    assert tree_bytes(tmp_path / "out3") == tree_bytes(tmp_path / "out1")
    assert (tmp_path / "out3.zip").read_bytes() == (tmp_path / "out1.zip").read_bytes()
    # The fresh runner got the cold build's deflate streams with the bundle: its own stream store
    # knows every restored file, so measuring and packing it compressed nothing.
    from fcslim.cache.treestreams import TreeStreams

    restored = [p for p in sorted((tmp_path / "out3").rglob("*"))
                if p.is_file() and not p.is_symlink() and ".fcslim" not in p.relative_to(tmp_path / "out3").parts]
    assert restored and all(known is not None for known in TreeStreams(tmp_path / "cache-3").known(restored))
    assert not (tmp_path / "cache-3" / "uv").exists() or not any((tmp_path / "cache-3" / "uv").rglob("*.whl"))

    # The remote's inventory covers what the runners wrote, and only under fcslim's prefix.
    info = subprocess.run([sys.executable, "-m", "fcslim", "cache", "info", "--json", "--cache-url", url],
                          env=runner_env("3"), capture_output=True, text=True, check=True)
    remote = json.loads(info.stdout)["remote"]
    assert remote["entries"]["bundles"] == 1 and remote["objects"] >= 1


def test_unreachable_remote_still_builds_and_strict_mode_fails_with_exit_12(tmp_path, links, runner_env):
    (tmp_path / "requirements.txt").write_text("stable\n")
    down = {"FCSLIM_CACHE_URL": "s3://fcslim-ci/nowhere/", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    built = finish(resolve(tmp_path, links, "out", runner_env("d", **down)))
    assert built["stderr"].count("The remote cache s3://fcslim-ci/nowhere/ failed") == 1
    assert (tmp_path / "out" / "stable").is_dir()
    strict = resolve(tmp_path, links, "out-strict", runner_env("s", **down), "--cache-url-required")
    out, err = strict.communicate(timeout=300)
    assert strict.returncode == 12, err
    assert "--cache-url-required" in err and not (tmp_path / "out-strict").exists()


def test_cache_clean_remote_touches_only_fcslim_keys(tmp_path, s3_env, runner_env):
    from fcslim.cache import store
    from fcslim.cache.store import Cache

    url = f"s3://{s3_env.bucket}/clean-{uuid.uuid4().hex[:8]}/"
    prefix = url.split("/", 3)[3]
    client = s3_env.client()
    client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}user-file.txt", Body=b"not fcslim's")
    store.configure_remote(url)
    Cache("slim", tmp_path / "c").put_file("k1", b"one")
    Cache("bundles", tmp_path / "c").put_file("k2", b"two")
    env = runner_env("c", FCSLIM_CACHE_URL=url)
    kept = subprocess.run([sys.executable, "-m", "fcslim", "cache", "clean", "--remote", "--older-than", "1"],
                          env=env, capture_output=True, text=True, check=True)
    assert "removed 0 entries" in kept.stdout
    gone = subprocess.run([sys.executable, "-m", "fcslim", "cache", "clean", "--remote", "slim"],
                          env=env, capture_output=True, text=True, check=True)
    assert "removed 1 entries" in gone.stdout
    keys = sorted(o["Key"][len(prefix):] for o in client.list_objects_v2(Bucket=s3_env.bucket,
                                                                        Prefix=prefix)["Contents"])
    assert "user-file.txt" in keys
    assert [k for k in keys if "/refs/" in k] == ["fcslim-cache/v1/refs/bundles/k2"]


def test_resolve_pack_split_upload_end_to_end(tmp_path, links, runner_env, s3_env):
    (tmp_path / "requirements.txt").write_text("stable\n")
    prefix = f"fn-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "fcslim", "resolve", str(tmp_path / "requirements.txt"), "--runtime",
            "fc-python3.10", "-o", str(tmp_path / "out"), "--no-index", "-f", str(links), "--no-fetch",
            "--no-verify", "--pack", "split", "--handler", "index.handler", "--pack-output", str(tmp_path / "fn.zip"),
            "--upload", f"s3://{s3_env.bucket}/{prefix}/"]
    run = subprocess.run(argv, env=runner_env("u"), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    import zipfile

    with zipfile.ZipFile(tmp_path / "fn.zip") as zf:
        config = json.loads(zf.read("fcslim_deps.json"))
        assert "fcslim_loader_signing.py" in zf.namelist()
    key = f"{prefix}/{config['sha256']}.zip"
    assert config["object"]["key"] == key
    body = s3_env.client().get_object(Bucket=s3_env.bucket, Key=key)["Body"].read()
    assert body == (tmp_path / "fn.deps.zip").read_bytes()
    wrong = subprocess.run(argv[:-2] + ["--pack", "code", "--upload", f"s3://{s3_env.bucket}/x/"],
                           env=runner_env("u"), capture_output=True, text=True)
    assert wrong.returncode == 3 and "--upload goes with --pack split" in wrong.stderr
