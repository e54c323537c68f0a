"""Staging directories (offline): a build killed with SIGKILL leaves
``.NAME.fcslim-staging-PID-N`` beside the output; the next run into the same
output removes it (and puts back a previous output the killed run had moved
aside), and leaves alone whatever it cannot prove a finished fcslim run made."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fcslim.core.output import (OWNER_RECORD, RECORDS_DIR, RUN_PROOF, clean_stale_staging, is_fcslim_tree,
                                staged_directory)

# A run that stops inside the staging block until it is killed.
_KILLED_RUN = textwrap.dedent("""
    import sys, time
    from fcslim.core.output import staged_directory
    with staged_directory(sys.argv[1]) as tree:
        (tree / "half-built.txt").write_text("...")
        print("staged", flush=True)
        time.sleep(60)
""")


def killed_run(output: Path, *, swapping: bool = False) -> Path:
    """Start a run into ``output``, SIGKILL it inside its staging block, and
    return its staging directory.  ``swapping``: kill it as if between the two
    renames of the swap (the previous output moved into staging)."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(output)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "staged"
        [staging] = [p for p in output.parent.iterdir() if p.name.startswith(f".{output.name}.fcslim-staging-")]
        if swapping:
            os.rename(output, staging / "old")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert staging.name.split("-")[-2] == str(proc.pid)
    return staging


def finished_bundle(output: Path, text: str) -> None:
    with staged_directory(output) as tree:
        (tree / "mod.py").write_text(text)


def test_a_killed_build_is_cleaned_up_by_the_next_run(tmp_path):
    out = tmp_path / "build"
    finished_bundle(out, "first")
    staging = killed_run(out)
    assert staging.is_dir() and (staging / "tree" / "half-built.txt").is_file()
    finished_bundle(out, "second")
    assert not staging.exists()
    assert (out / "mod.py").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


def test_a_build_killed_while_swapping_gets_the_previous_output_back(tmp_path):
    out = tmp_path / "build"
    finished_bundle(out, "first")
    staging = killed_run(out, swapping=True)
    assert not out.exists()
    assert clean_stale_staging(out) == [staging]
    assert (out / "mod.py").read_text() == "first" and is_fcslim_tree(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


def test_what_cannot_be_proven_stale_is_left_alone(tmp_path):
    out = tmp_path / "build"
    alive = tmp_path / f".build.fcslim-staging-{os.getpid()}-aaaaaa"  # this process: running
    other_host = tmp_path / ".build.fcslim-staging-1-bbbbbb"
    no_proof = tmp_path / ".build.fcslim-staging-2-cccccc"
    lookalike = tmp_path / ".build.fcslim-staging-notes"
    for path in (alive, other_host, no_proof, lookalike):
        (path / "tree").mkdir(parents=True)
    me = json.loads(json.dumps({"written_by": "fcslim", "pid": os.getpid(), "host": socket.gethostname(),
                                "boot": None, "start": None}))
    (alive / RUN_PROOF).write_text(json.dumps(me))
    (other_host / RUN_PROOF).write_text(json.dumps(dict(me, pid=2 ** 22 + 7, host="elsewhere")))
    (lookalike / RUN_PROOF).write_text("my own notes, not JSON")
    finished_bundle(out, "x")
    assert all(p.is_dir() for p in (alive, other_host, no_proof, lookalike))


def test_the_staging_tree_is_fcslim_s_own_and_the_result_carries_the_record(tmp_path):
    out = tmp_path / "build"
    with staged_directory(out) as tree:
        assert is_fcslim_tree(tree)  # so `slim` may work in it
        (tree / "pkg").mkdir()
        (tree / "pkg" / "a.py").write_text("")
    record = json.loads((out / RECORDS_DIR / OWNER_RECORD).read_text())
    assert record["entries"] == ["pkg/a.py"]
    assert not is_fcslim_tree(tmp_path)


def test_a_failing_block_leaves_the_output_and_no_staging(tmp_path):
    out = tmp_path / "build"
    finished_bundle(out, "first")
    with pytest.raises(RuntimeError):
        with staged_directory(out) as tree:
            (tree / "mod.py").write_text("second")
            raise RuntimeError("a stage failed")
    assert (out / "mod.py").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


def test_a_real_resolve_killed_mid_install_is_cleaned_by_the_next(tmp_path, links):
    """`fcslim resolve` itself, killed with SIGKILL while uv downloads a wheel
    from a loopback server that holds the answer back."""
    import functools
    import http.server
    import threading

    release = threading.Event()

    class Slow(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            release.wait(30)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Slow, directory=str(links)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        req = tmp_path / "requirements.txt"
        req.write_text(f"alpha @ http://127.0.0.1:{server.server_address[1]}/alpha-1.0-py3-none-any.whl\n")
        argv = [sys.executable, "-m", "fcslim", "resolve", str(req), "-o", str(tmp_path / "build"), "--no-index",
                "--no-fetch", "--no-slim", "--no-verify", "--no-cache", "-q"]
        proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                staged = [p for p in tmp_path.iterdir() if ".fcslim-staging-" in p.name]
                if staged and (staged[0] / RUN_PROOF).exists():
                    break
                assert proc.poll() is None, "resolve ended before it was killed"
                time.sleep(0.05)
            else:
                raise AssertionError("no staging directory appeared")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # fcslim and the uv it runs
            proc.wait()
        assert staged[0].is_dir() and not (tmp_path / "build").exists()
        release.set()
        again = subprocess.run(argv, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "requirements.txt"]
        assert (tmp_path / "build" / "alpha" / "__init__.py").is_file()
    finally:
        release.set()
        server.shutdown()
        server.server_close()
