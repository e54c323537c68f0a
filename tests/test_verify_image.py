"""--verify-image (fcslim.verify.image): every FC python3.9/3.10 and Lambda
profile names its public image; without a container engine that answers the
build stops with exit 8 naming the image and why, instead of checking
elsewhere; with one, the check runs through it (a stand-in engine here)."""

from __future__ import annotations

import json
import sys

import pytest

from fcslim.core.errors import EXIT_VERIFY, VerifyError
from fcslim.target.profile import builtin_profiles, load_profile
from fcslim.verify import image as image_mod


def test_provider_profiles_name_their_image():
    for name, profile in builtin_profiles().items():
        if profile.provider == "aws" or name in ("fc-python3.9", "fc-python3.10"):
            assert image_mod.runtime_image(profile) is not None, name


def test_no_engine_is_a_clear_exit_8(monkeypatch):
    monkeypatch.setattr(image_mod.shutil, "which", lambda name: None)
    with pytest.raises(VerifyError) as info:
        image_mod.image_verifier(load_profile("aws-python3.12"))
    assert info.value.exit_code == EXIT_VERIFY
    assert "public.ecr.aws/lambda/python:3.12" in str(info.value) and "docker: not installed" in str(info.value)
    with pytest.raises(VerifyError, match="names no public runtime image"):
        image_mod.image_verifier(load_profile("debian11-python3.9"))


def test_check_runs_through_the_engine(tmp_path, monkeypatch):
    """A stand-in engine answers `info` and runs the check process with this
    interpreter, recording its arguments: the bundle is mounted read-only at
    the code root and the image's interpreter is the entry point."""
    log = tmp_path / "argv.json"
    engine = tmp_path / "docker"
    engine.write_text(f"""#!{sys.executable}
import json, subprocess, sys
args = sys.argv[1:]
if args[0] == "info":
    sys.exit(0)
json.dump(args, open({str(log)!r}, "w"))
image_at = next(i for i, a in enumerate(args) if a.startswith("public.ecr.aws/"))
mount = args[args.index("-v") + 1].split(":")[0]
rest = args[image_at + 1:]
rest[rest.index("-c") + 2] = json.dumps([mount])
sys.exit(subprocess.call([sys.executable] + rest))
""")
    engine.chmod(0o755)
    monkeypatch.setattr(image_mod.shutil, "which", lambda name: str(engine) if name == "docker" else None)
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "hello.py").write_text("X = 1\n")
    verifier = image_mod.image_verifier(load_profile("aws-python3.12"))
    result = verifier.check(tmp_path / "bundle", ["hello", "missing_mod"])
    assert result.scope == "runtime-image" and "public.ecr.aws/lambda/python:3.12" in result.where
    assert result.passed == ["hello"] and result.failed == ["missing_mod"]
    argv = json.loads(log.read_text())
    assert f"{tmp_path / 'bundle'}:/var/task:ro" in argv and argv[argv.index("--entrypoint") + 1] == "/var/lang/bin/python3"
