"""Fixtures shared by the whole suite.

The suite never touches the user's own caches: before anything runs, fcslim's
cache (``FCSLIM_CACHE_DIR``), uv's (``UV_CACHE_DIR``) and the XDG cache
directory are pointed at a test cache outside the repository and outside the
user's cache directories: ``$FCSLIM_TEST_CACHE_DIR`` (``.ci/run`` sets it to a
persistent directory), else ``/tmp/fcslim-test-cache-<uid>``.  Expensive
things are built there once and reused by later runs: clean Debian roots,
uv's wheel cache, Debian indexes and packages.  At the end of the session the
user's default fcslim cache is compared with its state at the start; a change
fails the run under ``.ci/run`` (``FCSLIM_TEST_STRICT_CACHE=1``) and is reported
otherwise (on a shared machine another process may be using it).
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from pathlib import Path

import pytest


def suite_cache_dir() -> Path:
    """Where the suite keeps its caches (never the user's)."""
    explicit = os.environ.get("FCSLIM_TEST_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return Path(tempfile.gettempdir()) / f"fcslim-test-cache-{os.getuid()}"


def user_cache_dirs() -> list[Path]:
    """The user's own caches, read from the environment before the suite
    changes it: fcslim's default cache and, when set, ``$FCSLIM_CACHE_DIR``.
    (Only the default one is watched at the end: other processes on a shared
    machine may use an explicit cache directory while the suite runs.)"""
    xdg = os.environ.get("XDG_CACHE_HOME")
    found = [(Path(xdg) if xdg else Path.home() / ".cache") / "fcslim"]
    if os.environ.get("FCSLIM_CACHE_DIR"):
        found.append(Path(os.environ["FCSLIM_CACHE_DIR"]).expanduser())
    return [p.resolve() for p in found]


def snapshot(directory: Path, depth: int = 3) -> dict[str, tuple[int, int]]:
    """Names, sizes and mtimes of the first ``depth`` levels under ``directory``."""
    out: dict[str, tuple[int, int]] = {}
    if not directory.is_dir():
        return out
    for root, dirs, files in os.walk(directory):
        rel = Path(root).relative_to(directory)
        if len(rel.parts) >= depth:
            dirs[:] = []
        for name in dirs + files:
            try:
                st = os.lstat(Path(root) / name)
            except OSError:
                continue
            out[str(rel / name)] = (st.st_size if name in files else 0, st.st_mtime_ns)
    return out


_TEST_CACHE = suite_cache_dir()
USER_CACHES = tuple(p for p in user_cache_dirs() if _TEST_CACHE != p and _TEST_CACHE not in p.parents)
_WATCHED = USER_CACHES[:1]
_BEFORE = {str(p): snapshot(p) for p in _WATCHED}
_TEST_CACHE.mkdir(parents=True, exist_ok=True)
os.environ["FCSLIM_CACHE_DIR"] = str(_TEST_CACHE)
os.environ["UV_CACHE_DIR"] = str(_TEST_CACHE / "uv")
os.environ["XDG_CACHE_HOME"] = str(_TEST_CACHE / "xdg")
os.environ["FCSLIM_TEST_CACHE_DIR"] = str(_TEST_CACHE)  # xdist workers inherit the same directory

from fcslim.verify import rootfs  # noqa: E402  (after the environment above: nothing may see the user's cache)
from tests.support.tools import missing, require_tool


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if any test wrote into the user's own caches."""
    changed = []
    for path in _WATCHED:
        after = snapshot(path)
        before = _BEFORE[str(path)]
        diff = sorted(set(after) ^ set(before) | {k for k in after if k in before and after[k] != before[k]})
        if diff:
            changed.append(f"{path}: {', '.join(diff[:5])}")
    if changed:
        # Strict in CI (.ci/run sets FCSLIM_TEST_STRICT_CACHE): nothing else runs
        # there.  On a shared workstation another process may use that cache
        # meanwhile, so only say so.
        strict = os.environ.get("FCSLIM_TEST_STRICT_CACHE") == "1"
        print(f"\n{'error' if strict else 'warning'}: the user's own fcslim cache changed during the test run "
              f"(by this suite, or by another process): " + "; ".join(changed))
        if strict:
            session.exitstatus = 1


@pytest.fixture(scope="session")
def cache_root() -> Path:
    from fcslim.cache.location import cache_root as root

    path = root()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def bullseye_root() -> Path:
    """A clean `debootstrap --variant=minbase --include=python3 bullseye` root
    (Debian 11, CPython 3.9, glibc 2.31), built once and cached."""
    reason = rootfs.rootfs_support()
    if reason:
        missing(f"rootfs tests need a clean Debian root: {reason}")
    return rootfs.ensure_root("bullseye")


@pytest.fixture
def run_in_bullseye(bullseye_root):
    """Run a command in the clean bullseye root with a bundle at /code and FC's
    search paths (LD_LIBRARY_PATH=/code:/code/lib:/usr/local/lib)."""

    def run(bundle: Path, argv, env=None, binds=None):
        full_env = {
            "LD_LIBRARY_PATH": "/code:/code/lib:/usr/local/lib",
            "PYTHONPATH": "/code",
        }
        full_env.update(env or {})
        all_binds = {str(bundle): "/code"}
        all_binds.update(binds or {})
        return rootfs.run_in_root(bullseye_root, argv, binds=all_binds, env=full_env)

    return run


@pytest.fixture(scope="session")
def gcc() -> str:
    return require_tool("gcc", "cc", purpose="the offline layer compiles tiny .so files")


@pytest.fixture(scope="session")
def links(tmp_path_factory) -> Path:
    """A find-links directory of the offline layer's tiny wheels and sdists
    (tests/support/wheels.py), built once per run."""
    from tests.support.wheels import sample_find_links

    return sample_find_links(tmp_path_factory.mktemp("links"))


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """A private uv cache for the offline install tests."""
    return tmp_path_factory.mktemp("uvcache")


@pytest.fixture
def quiet():
    """Progress output off for one test (it is a process-wide reporter), and
    back to the default afterwards."""
    from fcslim.core import progress

    progress.configure(quiet=True)
    yield
    progress.configure()


# -- the local Debian mirrors of the offline layer ---------------------------------

DEB_ELF = b"\x7fELF" + b"\x00" * 60  # bytes of the stand-in library in the local mirror


def _gpg_key(tmp_path_factory, name: str):
    from tests.support.debian_mirror import make_signing_key

    require_tool("gpg", purpose="the Debian signature tests sign a local mirror")
    require_tool("gpgv", purpose="the Debian signature tests check a local mirror")
    return make_signing_key(tmp_path_factory.mktemp(name))


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory):
    """The key that signs the local test mirror (its keyring: ``.keyring``)."""
    key = _gpg_key(tmp_path_factory, "archive-key")
    yield key
    key.close()


@pytest.fixture(scope="session")
def other_key(tmp_path_factory):
    """A second key, in no keyring the tests trust (a wrongly signed mirror)."""
    key = _gpg_key(tmp_path_factory, "other-key")
    yield key
    key.close()


@pytest.fixture
def debian_mirror(tmp_path, signing_key):
    """A signed local mirror served over HTTP: suite ``testrel`` (libzz1
    providing libzz.so.1, libzz-dev) and ``testrel-security`` (a newer libzz1)."""
    from tests.support.debian_mirror import FakeMirror, library_members, symlink_member

    fake = FakeMirror(tmp_path / "mirror", key=signing_key)
    fake.add("testrel", "libzz1", "1.0-1",
             library_members("libzz1", "usr/lib/x86_64-linux-gnu/libzz.so.1.0.0", DEB_ELF,
                             {"usr/lib/x86_64-linux-gnu/libzz.so.1": "libzz.so.1.0.0"}), source="zz")
    fake.add("testrel", "libzz-dev", "1.0-1",
             [symlink_member("./usr/lib/x86_64-linux-gnu/libzz.so", "libzz.so.1")], source="zz")
    fake.publish("testrel")
    fake.add("testrel-security", "libzz1", "1.0-1+sec1",
             library_members("libzz1", "usr/lib/x86_64-linux-gnu/libzz.so.1.0.0", DEB_ELF + b"sec",
                             {"usr/lib/x86_64-linux-gnu/libzz.so.1": "libzz.so.1.0.0"}), source="zz")
    fake.publish("testrel-security", contents=False)
    fake.serve()
    yield fake
    fake.stop()

@pytest.fixture(autouse=True)
def assembled_roots_only_in_rootfs_tests(request, monkeypatch):
    """Import checks for profiles without a Debian root use an assembled root
    (fcslim.verify.assembled), which may debootstrap a release: only tests
    marked rootfs may do that; the others see the host interpreter as before."""
    if request.node.get_closest_marker("rootfs") is None:
        from fcslim.verify import imports

        monkeypatch.setattr(imports, "ASSEMBLED_ROOTS", False)


@pytest.fixture(autouse=True)
def no_remote_cache(monkeypatch):
    """No test shares its results through a remote cache set in the caller's
    environment; tests that want one configure it themselves."""
    from fcslim.cache import store

    monkeypatch.delenv("FCSLIM_CACHE_URL", raising=False)
    monkeypatch.delenv("FCSLIM_CACHE_URL_REQUIRED", raising=False)
    store.configure_remote(None)
    yield
    store.configure_remote(None)


@pytest.fixture(scope="session")
def object_store():
    """A real S3-compatible server (moto) on loopback, signatures enforced (tests/support/objectstore.py)."""
    pytest.importorskip("moto.server", reason="the object-storage tests need moto[server] (the test extra)")
    pytest.importorskip("s3fs", reason="the object-storage tests need s3fs (the remote extra)")
    from tests.support.objectstore import start_object_store

    store = start_object_store()
    yield store
    store.server.stop()


@pytest.fixture
def s3_url(s3_env) -> str:
    """A fresh prefix per test in the shared bucket."""
    return f"s3://{s3_env.bucket}/t-{uuid.uuid4().hex[:8]}/"


@pytest.fixture
def warnings_seen():
    """What the run's warnings print, for tests that check them."""
    from fcslim.core import progress

    stream = io.StringIO()
    progress.configure(stream=stream)
    yield stream
    progress.configure()


@pytest.fixture
def s3_env(object_store, monkeypatch, tmp_path):
    """The writer's credentials and the server's endpoint in the standard AWS_* variables."""
    for name, value in object_store.writer.env(object_store.endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return object_store
