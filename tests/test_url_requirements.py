"""PEP 508 URL requirements (`name @ URL`) through resolve and lock: the URL is
used as given, a lock pins it with its hash, and a lock whose hash does not
match what the URL serves fails with exit 4.  Offline: the wheel is served by
a loopback HTTP server; the last test takes the issue's real URL from PyPI."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from fcslim.core.errors import HashMismatchError
from fcslim.pipeline import BuildOptions, build
from fcslim.resolve.install import InstallOptions
from fcslim.resolve.lock import lock
from fcslim.target.profile import load_profile

SIX_URL = ("https://files.pythonhosted.org/packages/b7/ce/149a00dd41f10bc29e5921b496af8b574d8413afcd5e30dfa0ed46c2cc5e/"
           "six-1.17.0-py2.py3-none-any.whl")


@pytest.fixture(scope="module")
def served(links):
    """http://127.0.0.1:PORT/ serving the offline find-links directory."""
    handler = functools.partial(_QuietHandler, directory=str(links))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _options(tmp_path: Path, requirements: Path, cache: Path, **kw) -> BuildOptions:
    return BuildOptions(requirements=requirements, profile=load_profile("fc-python3.10"), output=tmp_path / "build",
                        install=InstallOptions(no_index=True, cache_dir=cache), fetch=False, slim=False,
                        verify=False, cache=False, **kw)


def test_url_requirement_resolves_locks_and_is_hash_checked(tmp_path, served, cache, quiet):
    req = tmp_path / "requirements.txt"
    req.write_text(f"alpha @ {served}/alpha-1.0-py3-none-any.whl\n")
    result = build(_options(tmp_path, req, cache, lock=tmp_path / "requirements.lock"))
    assert [(d.name, d.version) for d in result.distributions] == [("alpha", "1.0")]
    assert (tmp_path / "build" / "alpha" / "__init__.py").is_file()
    text = (tmp_path / "requirements.lock").read_text()
    assert f"alpha @ {served}/alpha-1.0-py3-none-any.whl" in text and "--hash=sha256:" in text
    assert [(p.name, p.version, len(p.hashes)) for p in result.lock.pins] == [("alpha", "1.0", 1)]
    assert result.install.hash_checked

    # the lock as input: installed with its hash checked; a wrong hash is exit 4
    locked = build(_options(tmp_path, tmp_path / "requirements.lock", cache))
    assert locked.install.hash_checked and [d.name for d in locked.distributions] == ["alpha"]
    digest = text.split("--hash=sha256:", 1)[1][:64]
    bad = tmp_path / "bad.lock"
    bad.write_text(text.replace(digest, digest[::-1]))
    with pytest.raises(HashMismatchError) as caught:
        build(_options(tmp_path, bad, cache))
    assert caught.value.exit_code == 4 and "bad.lock" in str(caught.value)


@pytest.mark.network
def test_the_issue_url_requirement_from_pypi(tmp_path):
    req = tmp_path / "requirements.in"
    req.write_text(f"six @ {SIX_URL}\n")
    result = lock(req, load_profile("fc-python3.10"), tmp_path / "requirements.lock", InstallOptions())
    assert [(p.name, p.version) for p in result.pins] == [("six", "1.17.0")]
    assert result.pins[0].hashes == ("sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",)
