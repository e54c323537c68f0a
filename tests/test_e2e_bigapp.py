"""The big app from the original FC guide, end to end: OpenCV and TensorFlow
for an FC-like runtime on Debian 11 (tests/support/bigapp/fc-like.json: FC's
paths and limits, CPython 3.9, bullseye).

One build (`fcslim resolve --pack auto --smoke --prune-untraced`), then:
every artifact within its own limit; the code zip at /code and the layers at
/opt in a clean Debian 11 root run the handler (a tiny Keras model predicting
on an image resized with cv2); the split layout, served by a local HTTP
server on 127.0.0.1, runs it through the loader; the smoke's trace report and
pruning with the bytes saved.

Marked bigapp (and network, rootfs, slow): it downloads about 400 MiB of
wheels when uv's cache is cold and runs TensorFlow in a clean root several
times, so it is selected explicitly (`pytest -m bigapp`); see README, Tests.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from fcslim.target.profile import load_profile
from fcslim.verify import rootfs

pytestmark = [pytest.mark.bigapp, pytest.mark.network, pytest.mark.rootfs, pytest.mark.slow]

APP = Path(__file__).parent / "support" / "bigapp"
EVENT = '{"size": 96}'
CALL = ("import json, index; out = json.loads(index.handler(b'" + EVENT + "', None)); "
        "assert out['shape'] == [32, 32, 3] and len(out['scores']) == 3, out; print(json.dumps(out))")


def fcslim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fcslim", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=3600)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build of the set for the FC-like profile, with the smoke traced and
    the untouched distributions pruned."""
    if shutil.which("strace") is None:
        pytest.fail("the bigapp proof traces its smoke run and needs strace (apt-get install strace)")
    work = tmp_path_factory.mktemp("bigapp")
    fn = work / "fn"
    fn.mkdir()
    for name in ("index.py", "smoke.py"):
        shutil.copy(APP / name, fn / name)
    shutil.copy(APP / "requirements.txt", work / "requirements.txt")
    shutil.copy(APP / "fc-like.json", work / "fc-like.json")
    # The whole pipeline, slimming included (with tensorflow's import-time
    # test modules kept by data/import_time_keep.json, slim+verify of this set
    # takes under a minute here).
    proc = fcslim("resolve", "requirements.txt", "--runtime", "fc-like.json", "-o", "build", "--pack", "auto",
                  "--handler", "index.handler", "--smoke", "fn/smoke.py", "--prune-untraced", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    return work, summary


def run_in_debian11(binds: dict, argv: list[str], env: dict | None = None, cwd: str = "/code"):
    root = rootfs.ensure_root("bullseye")
    profile = load_profile(str(APP / "fc-like.json"))
    full_env = dict(rootfs.runtime_env(profile))
    full_env.update(env or {})
    return rootfs.run_in_root(root, argv, binds=binds, env=full_env, cwd=cwd, timeout=1200)


def unzip(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            zf.extract(info, into)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (into / info.filename).chmod(mode)
    return into


def test_every_artifact_is_within_its_own_limit(built):
    work, summary = built
    artifacts = summary["artifacts"]
    kinds = [a["kind"] for a in artifacts]
    assert kinds[0] == "code" and summary["plan"]["layout"] in ("layers", "split"), summary["plan"]
    for a in artifacts:
        assert Path(a["path"]).stat().st_size == a["zipped_bytes"]
        assert a["limit_bytes"] is not None, a
        measured = a["zipped_bytes"] + (a["unzipped_bytes"] if a["kind"] == "deps" else 0)
        assert measured <= a["limit_bytes"], a
        assert a["mount"] == {"code": "/code", "layer": "/opt", "deps": "url"}[a["kind"]]
    # The whole set is far over the 100 MiB code limit: the plan had to move distributions.
    assert summary["slim"]["rolled_back"] == [] and summary["slim"]["after_bytes"] < summary["slim"]["before_bytes"]
    assert summary["report"]["totals"]["zip_bytes"] > 100 * 1024 ** 2
    assert summary["plan"]["attempts"][0]["fits"] is False


def test_code_zip_at_code_and_layers_at_opt_run_the_handler_in_debian11(built):
    work, summary = built
    packed = fcslim("pack", "build", "--layout", "auto", "--code", "fn", "--handler", "index.handler",
                    "-o", "deploy/app.zip", cwd=work)
    assert packed.returncode == 0, packed.stderr[-3000:]
    assert "next: " in packed.stderr
    deploy = work / "deploy"
    code = unzip(deploy / "app.zip", work / "mnt" / "code")
    opt = work / "mnt" / "opt"
    layers = sorted(deploy.glob("app.layer*.zip"))
    assert layers, "the set does not fit FC's code zip alone"
    for layer in reversed(layers):  # FC merges layers into /opt, the first-configured winning
        unzip(layer, opt)
    result = run_in_debian11({str(code): "/code", str(opt): "/opt"}, ["python3", "-c", CALL])
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["shape"] == [32, 32, 3] and out["tf"].startswith("2.")


def test_the_split_layout_served_over_http_runs_through_the_loader(built, tmp_path):
    work, summary = built
    small_disk = fcslim("pack", "build", "--layout", "split", "--code", "fn", "--handler", "index.handler",
                        "-o", str(tmp_path / "small" / "split.zip"), cwd=work)
    assert small_disk.returncode == 9 and "disk" in small_disk.stderr  # 512 MiB of /tmp cannot hold it
    packed = fcslim("pack", "build", "--layout", "split", "--code", "fn", "--handler", "index.handler",
                    "--disk", "10GiB", "-o", str(tmp_path / "www" / "split.zip"), "--snippet", "s.yaml", cwd=work)
    assert packed.returncode == 0, packed.stderr[-3000:]
    assert "diskSize: 10240" in packed.stdout and 'handler: "fcslim_loader.handler"' in packed.stdout
    code = unzip(tmp_path / "www" / "split.zip", tmp_path / "code")
    assert sorted(p.name for p in code.iterdir()) >= ["fcslim_deps.json", "fcslim_loader.py", "index.py"]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = lambda *a, **k: Quiet(*a, directory=str(tmp_path / "www"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/split.deps.zip"
        call = ("import json, fcslim_loader; fcslim_loader.initializer(None); "
                f"out = json.loads(fcslim_loader.handler(b'{EVENT}', None)); "
                "assert out['shape'] == [32, 32, 3], out; print(json.dumps(out))")
        result = run_in_debian11({str(code): "/code"}, ["python3", "-c", call], env={"FCSLIM_DEPS_URL": url,
                                                                                   "FCSLIM_LOADER_LAZY": "1"})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["scores"]


def test_the_trace_report_and_pruning_with_bytes_saved(built):
    work, summary = built
    smoke = summary["smoke"]
    assert smoke["smoke"]["ok"] and smoke["smoke"]["traced"]
    trace = smoke["trace"]
    assert trace["untouched_bytes"] > 0.1 * trace["total_bytes"]
    never = {d["name"] for d in trace["never_touched_distributions"]}
    assert never  # e.g. libclang, tensorboard, grpcio: never opened by a serving function
    pruned = summary["prune"]
    assert pruned["bytes"] > 0 and {d["name"] for d in pruned["distributions"]} == never
    assert smoke["after_pruning"]["ok"]
    build = work / "build"
    for name in never:
        assert not list(build.glob(f"{name.replace('-', '_')}-*.dist-info"))
