"""Authenticity of what fcslim fetches from Debian (offline): signed, unsigned
and wrongly signed local mirrors; gpgv outcomes (good, bad, unknown key, no
gpgv, no keyring); --debian-keyring (binary and armoured) and the loud
--allow-unsigned, through the library, `fcslim fetch` and `fcslim resolve`,
and recorded in the bundle."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import fcslim

from fcslim.cli import main as cli_main
from fcslim.cli.fetch_cmd import fetch as fetch_command
from fcslim.core.errors import EXIT_DEBIAN, EXIT_INPUT, EXIT_OK, DebianError
from fcslim.debian import release as release_module
from fcslim.debian import signatures
from fcslim.debian.archive import DebianArchive, DebianRelease
from fcslim.debian.errors import ExpiredReleaseError, NoPackageError, SignatureError
from fcslim.debian.signatures import Trust, verify_detached, verify_inrelease
from fcslim.fetch.closure import fetch_missing
from fcslim.target.model import DebianSource
from fcslim.target.profile import load_profile

from .support.elffiles import build_shared_library
from .support.wheels import build_wheel
from tests.support.debian_mirror import FakeMirror, library_members

MULTIARCH = "usr/lib/x86_64-linux-gnu"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(signatures.KEYRING_ENV, raising=False)


def _trust(*keys, allow_unsigned=False) -> Trust:
    return Trust(tuple(k.keyring for k in keys), allow_unsigned)


# -- gpgv outcomes -------------------------------------------------------------------


def test_good_bad_and_unknown_key_signatures(signing_key, other_key):
    text = b"Origin: Test\nSuite: x\nSHA256:\n"
    signed = signing_key.clearsign(text)
    good = verify_inrelease(signed, _trust(signing_key), "test InRelease")
    assert good.authenticated and good.authentication.startswith("signed: ") and "Suite: x" in good.text

    tampered = signed.replace(b"Suite: x", b"Suite: y")
    for trust in (_trust(signing_key), _trust(signing_key, allow_unsigned=True)):
        with pytest.raises(SignatureError, match="does not match its text") as info:
            verify_inrelease(tampered, trust, "test InRelease")
        assert info.value.exit_code == EXIT_DEBIAN  # a bad signature is never accepted

    with pytest.raises(SignatureError, match="not in the trusted keyring") as info:
        verify_inrelease(signed, _trust(other_key), "test InRelease")
    assert "--debian-keyring" in str(info.value) and "--allow-unsigned" in str(info.value)
    accepted = verify_inrelease(signed, _trust(other_key, allow_unsigned=True), "test InRelease")
    assert not accepted.authenticated and "--allow-unsigned" in accepted.authentication
    assert accepted.text.startswith("Origin: Test")

    detached = signing_key.detach_sign(text)
    assert verify_detached(text, detached, _trust(signing_key), "test Release").authenticated
    with pytest.raises(SignatureError, match="does not match"):
        verify_detached(text + b"Extra: 1\n", detached, _trust(signing_key, allow_unsigned=True), "test Release")
    with pytest.raises(SignatureError, match="is not signed"):
        verify_detached(text, None, _trust(signing_key), "test Release")


def test_several_keyrings_and_an_armoured_one(signing_key, other_key, tmp_path):
    signed = other_key.clearsign(b"Origin: Test\n")
    assert verify_inrelease(signed, _trust(signing_key, other_key), "x").authenticated
    armoured = tmp_path / "other.asc"
    armoured.write_bytes(_armour(other_key))
    assert armoured.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert verify_inrelease(signed, Trust((armoured,)), "x").authenticated
    relative = Path(os.path.relpath(armoured))
    assert verify_inrelease(signed, Trust((relative,)), "x").authenticated  # gpgv itself would look in ~/.gnupg


def _armour(key) -> bytes:
    import subprocess

    return subprocess.run(["gpg", "--batch", "--homedir", str(key.home), "--export", "--armor"],
                          capture_output=True, check=True).stdout


def test_missing_keyring_file_is_bad_input(signing_key, tmp_path, monkeypatch):
    with pytest.raises(Exception) as info:
        verify_inrelease(signing_key.clearsign(b"x\n"), Trust((tmp_path / "nope.gpg",)), "x")
    assert info.value.exit_code == EXIT_INPUT and "nope.gpg" in str(info.value)
    monkeypatch.setenv(signatures.KEYRING_ENV, str(tmp_path / "env-nope.gpg"))
    with pytest.raises(Exception) as info:
        verify_inrelease(signing_key.clearsign(b"x\n"), Trust(), "x")
    assert info.value.exit_code == EXIT_INPUT and signatures.KEYRING_ENV in str(info.value)


def test_no_keyring_or_no_gpgv_refuses_unless_allowed(signing_key, tmp_path, monkeypatch):
    signed = signing_key.clearsign(b"Origin: Test\n")
    monkeypatch.setattr(signatures, "keyring_policy",
                        lambda: signatures.KeyringPolicy((tmp_path / "absent.gpg",), (), frozenset()))
    with pytest.raises(SignatureError, match="no keyring was found") as info:
        verify_inrelease(signed, Trust(), "x")
    assert "debian-archive-keyring" in str(info.value)
    assert not verify_inrelease(signed, Trust(allow_unsigned=True), "x").authenticated

    monkeypatch.setenv("PATH", str(tmp_path))  # no gpgv on it
    assert shutil.which("gpgv") is None
    with pytest.raises(SignatureError, match="gpgv is not installed") as info:
        verify_inrelease(signed, _trust(signing_key), "x")
    assert "apt-get install gpgv" in str(info.value)


def test_retired_releases_are_checked_against_debians_removed_keys_too(debian_mirror, signing_key, other_key,
                                                                       monkeypatch):
    # Debian moved the stretch and buster keys out of its archive keyring (data/debian_keyrings.json):
    # archive.debian.org's Release files for them verify only with the removed-keys keyring.
    monkeypatch.setattr(signatures, "keyring_policy", lambda: signatures.KeyringPolicy(
        (signing_key.keyring,), (other_key.keyring,), frozenset({"buster"})))
    assert Trust().for_suite("buster-security").resolved_keyrings() == (signing_key.keyring, other_key.keyring)
    assert Trust().for_suite("bookworm") == Trust()
    assert Trust((signing_key.keyring,)).for_suite("buster").keyrings == (signing_key.keyring,)  # as given
    debian_mirror.suites["buster"] = debian_mirror.suites["testrel"]
    debian_mirror.publish("buster", signer=other_key)
    debian_mirror.publish("testrel", signer=other_key)
    assert DebianArchive(debian_mirror.url, "buster", "amd64").release.authenticated
    with pytest.raises(SignatureError, match="not in the trusted keyring"):
        DebianArchive(debian_mirror.url, "testrel", "amd64").release


def test_the_shipped_keyring_policy_names_debians_keyrings():
    policy = signatures.keyring_policy()
    assert {"stretch", "buster"} <= policy.retired_releases and "bullseye" not in policy.retired_releases
    assert policy.default[0] == Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    assert policy.removed_keyrings[0] == Path("/usr/share/keyrings/debian-archive-removed-keys.gpg")


# -- mirrors: signed, detached, unsigned, wrongly signed ---------------------------------------


def test_unsigned_mirror_is_refused_by_default(debian_mirror, signing_key):
    debian_mirror.publish("testrel", sign=False)  # a Release, no InRelease, no Release.gpg
    with pytest.raises(SignatureError) as info:
        DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release
    message = str(info.value)
    assert info.value.exit_code == EXIT_DEBIAN and "\n" not in message
    assert "neither InRelease nor Release.gpg" in message and debian_mirror.url in message
    assert "--debian-keyring" in message and "--allow-unsigned" in message


def test_unsigned_mirror_with_allow_unsigned_warns_and_still_checks_hashes(debian_mirror, signing_key):
    debian_mirror.publish("testrel", sign=False)
    archive = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key, allow_unsigned=True))
    release = archive.release
    assert any("NOT authenticated" in w and "--allow-unsigned" in w for w in archive.warnings)
    assert not release.authenticated and "accepted because of --allow-unsigned" in release.authentication
    assert "libzz1" in archive.packages
    package = archive.packages["libzz1"]
    (debian_mirror.root / package.filename).write_bytes(b"!<arch>\nnot the package")
    with pytest.raises(Exception, match="does not match its published checksum"):
        archive.download(package)  # the unauthenticated Release still pins every byte


def test_detached_signature_mirror(debian_mirror, signing_key, other_key):
    debian_mirror.publish("testrel", detached=True)
    release = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release
    assert release.authenticated
    debian_mirror.publish("testrel", detached=True, signer=other_key)
    with pytest.raises(SignatureError, match="not in the trusted keyring"):
        DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release


def test_wrongly_signed_mirror_and_its_own_keyring(debian_mirror, signing_key, other_key):
    debian_mirror.publish("testrel", signer=other_key)
    with pytest.raises(SignatureError, match="not in the trusted keyring"):
        DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release
    trusted = DebianRelease(debian_mirror.url, "testrel", "amd64", trust=_trust(other_key))
    assert trusted.locate("libzz.so.1").package.name == "libzz1"
    assert trusted.authentication()["testrel"].startswith("signed")


def test_signatures_stripped_on_the_way_are_refused(debian_mirror, signing_key):
    # an on-path attacker answering 404 for InRelease and Release.gpg
    (debian_mirror.root / "dists/testrel/InRelease").unlink()
    with pytest.raises(SignatureError, match="neither InRelease nor Release.gpg"):
        DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release


def test_cached_release_is_checked_again_offline(debian_mirror, signing_key, other_key):
    archive = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key))
    assert archive.release.authenticated
    url = debian_mirror.url
    debian_mirror.stop()
    with pytest.raises(SignatureError, match="cached Release"):
        DebianArchive(url, "testrel", "amd64", trust=_trust(other_key)).release


# -- Valid-Until: a signed Release can still be stale ------------------------------------

PAST, FUTURE = "Sun, 01 Jun 2025 00:00:00 UTC", "Thu, 01 Jan 2099 00:00:00 UTC"


def test_a_release_past_its_valid_until_is_refused_unless_allowed(debian_mirror, signing_key):
    debian_mirror.publish("testrel", valid_until=PAST)
    with pytest.raises(ExpiredReleaseError) as info:
        DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release
    message = str(info.value)
    assert info.value.exit_code == EXIT_DEBIAN and "\n" not in message
    assert PAST in message and debian_mirror.url in message and "--allow-expired-release" in message

    allowed = dataclasses.replace(_trust(signing_key), allow_expired=True)
    archive = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=allowed)
    assert archive.release.authentication.startswith("signed")
    assert "accepted because of --allow-expired-release" in archive.release.authentication
    assert any(PAST in w and "--allow-expired-release" in w for w in archive.warnings)
    assert "libzz1" in archive.packages

    debian_mirror.publish("testrel", valid_until=FUTURE)
    fresh = DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key))
    assert fresh.release.authenticated and not fresh.warnings


def test_a_cached_release_that_expired_is_refused_offline(debian_mirror, signing_key, monkeypatch):
    debian_mirror.publish("testrel", valid_until="Mon, 01 Jan 2035 00:00:00 +0000")
    assert DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release.authenticated
    url = debian_mirror.url
    debian_mirror.stop()
    offline = DebianArchive(url, "testrel", "amd64", trust=_trust(signing_key))
    assert offline.release.from_cache  # still valid: used with a warning

    class Later(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2036, 1, 1, tzinfo=tz)

    monkeypatch.setattr(release_module, "datetime", Later)
    with pytest.raises(ExpiredReleaseError, match="cached Release .* expired on Mon, 01 Jan 2035"):
        DebianArchive(url, "testrel", "amd64", trust=_trust(signing_key)).release


def test_a_valid_until_that_is_not_a_date_is_refused(debian_mirror, signing_key):
    debian_mirror.publish("testrel", valid_until="next Tuesday")
    with pytest.raises(DebianError, match="Valid-Until that is not a date .*next Tuesday"):
        DebianArchive(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key)).release


# -- Contents the mirror serves wrong: a lookup hint, not a trust anchor ------------------


@pytest.mark.parametrize("fault", ["changed", "missing"])
def test_a_contents_index_that_fails_its_checksum_falls_back_to_package_naming(debian_mirror, signing_key, fault):
    contents = debian_mirror.root / "dists/testrel/main/Contents-amd64.gz"
    if fault == "changed":  # a CDN serving another day's Contents (deb.debian.org, trixie, 2026-11-25)
        contents.write_bytes(contents.read_bytes() + b"\0")
    else:
        contents.unlink()
    release = DebianRelease(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key))
    found = release.locate("libzz.so.1")
    assert found.package.name == "libzz1" and found.path == "usr/lib/x86_64-linux-gnu/libzz.so.1"
    assert any("looked up by Debian's package naming" in w for w in release.warnings)
    assert ("does not match its published checksum" if fault == "changed" else "does not serve it") \
        in release.main.contents_problem
    with pytest.raises(NoPackageError, match="libnothere.so.3"):
        release.locate("libnothere.so.3")
    assert not release.main.store.blob(release.main.index_entry("main/Contents-amd64.gz").sha256)


def test_a_good_contents_index_is_used_without_a_warning(debian_mirror, signing_key):
    release = DebianRelease(debian_mirror.url, "testrel", "amd64", trust=_trust(signing_key))
    assert release.locate("libzz.so.1").package.name == "libzz1"
    assert release.main.contents_problem is None and not release.warnings


# -- the verbs that fetch ---------------------------------------------------------------


@pytest.fixture(scope="module")
def real_libs(tmp_path_factory, gcc):
    """A real libzz.so.1 and an extension module that needs it."""
    out = tmp_path_factory.mktemp("trust-elf")
    lib = build_shared_library(out / "libzz.so.1", "int zz(void){return 1;}\n", soname="libzz.so.1")
    ext = build_shared_library(out / "_ext.so", "int zz(void); int ext(void){return zz();}\n", link=[lib])
    return {"lib": lib, "ext": ext}


@pytest.fixture
def private_mirror(tmp_path, other_key, real_libs):
    """A private mirror signed by a key Debian's keyring does not have."""
    fake = FakeMirror(tmp_path / "private", key=other_key)
    fake.add("testrel", "libzz1", "1.0-1", library_members(
        "libzz1", f"{MULTIARCH}/libzz.so.1", real_libs["lib"].read_bytes(), {}), source="zz")
    fake.publish("testrel")
    fake.serve()
    yield fake
    fake.stop()


def _profile_file(tmp_path: Path, mirror_url: str) -> Path:
    profile = load_profile("debian11-python3.9")
    raw = dataclasses.replace(profile, name="private-test",
                              debian=DebianSource("testrel", "11", mirror_url, None)).to_dict()
    path = tmp_path / "private-runtime.json"
    path.write_text(json.dumps(raw))
    return path


def _bundle_for_fetch(tmp_path: Path, mirror, real_libs) -> tuple[Path, list[str]]:
    """A bundle whose extension needs libzz.so.1, and `fcslim fetch`'s
    arguments for it against ``mirror``."""
    profile = _profile_file(tmp_path, mirror.url)
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    shutil.copy(real_libs["ext"], bundle / "pkg" / "_ext.so")
    return bundle, [str(bundle), "-R", str(profile)]


def test_cli_fetch_trust_options(tmp_path, private_mirror, signing_key, other_key, real_libs, monkeypatch):
    monkeypatch.setenv(signatures.KEYRING_ENV, str(signing_key.keyring))  # the default keyring: not the mirror's
    bundle, base = _bundle_for_fetch(tmp_path, private_mirror, real_libs)
    runner = CliRunner()

    refused = runner.invoke(fetch_command, base)
    assert refused.exit_code == EXIT_DEBIAN, refused.output
    assert "not in the trusted keyring" in refused.output and "Traceback" not in refused.output
    assert not (bundle / "lib").exists()

    keyed = runner.invoke(fetch_command, base + ["--debian-keyring", str(other_key.keyring)])
    assert keyed.exit_code == EXIT_OK, keyed.output
    record = json.loads((bundle / ".fcslim" / "libraries.json").read_text())
    assert record["debian"]["authentication"]["testrel"].startswith("signed")
    assert record["debian"]["trust"] == {"keyrings": [str(other_key.keyring)],
                                         "keyring_sha256": [record["debian"]["trust"]["keyring_sha256"][0]],
                                         "allow_unsigned": False, "allow_expired": False}

    shutil.rmtree(bundle / "lib")
    (bundle / ".fcslim" / "libraries.json").unlink()
    loud = runner.invoke(fetch_command, base + ["--allow-unsigned"])
    assert loud.exit_code == EXIT_OK, loud.output
    assert "warning:" in loud.output and "NOT authenticated" in loud.output
    record = json.loads((bundle / ".fcslim" / "libraries.json").read_text())
    assert record["debian"]["trust"]["allow_unsigned"] is True
    assert record["debian"]["authentication"]["testrel"].startswith("unauthenticated")
    assert (bundle / "lib" / "libzz.so.1").read_bytes() == real_libs["lib"].read_bytes()


def test_cli_fetch_expired_release(tmp_path, private_mirror, other_key, real_libs, monkeypatch):
    monkeypatch.setenv(signatures.KEYRING_ENV, str(other_key.keyring))
    private_mirror.publish("testrel", valid_until=PAST)
    bundle, base = _bundle_for_fetch(tmp_path, private_mirror, real_libs)
    runner = CliRunner()
    refused = runner.invoke(fetch_command, base)
    assert refused.exit_code == EXIT_DEBIAN, refused.output
    assert "expired on" in refused.output and "Traceback" not in refused.output
    assert not (bundle / "lib").exists()
    allowed = runner.invoke(fetch_command, base + ["--allow-expired-release"])
    assert allowed.exit_code == EXIT_OK, allowed.output
    assert "warning:" in allowed.output and "--allow-expired-release" in allowed.output
    record = json.loads((bundle / ".fcslim" / "libraries.json").read_text())
    assert record["debian"]["trust"]["allow_expired"] is True
    assert "expired" in record["debian"]["authentication"]["testrel"]
    assert (bundle / "lib" / "libzz.so.1").read_bytes() == real_libs["lib"].read_bytes()


def test_library_api_trust(tmp_path, private_mirror, signing_key, other_key, real_libs, monkeypatch):
    monkeypatch.setenv(signatures.KEYRING_ENV, str(signing_key.keyring))
    profile = load_profile(_profile_file(tmp_path, private_mirror.url))
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    shutil.copy(real_libs["ext"], bundle / "pkg" / "_ext.so")
    with pytest.raises(SignatureError):
        fetch_missing(bundle, profile)
    result = fcslim.fetch_missing(bundle, profile, trust=fcslim.Trust((other_key.keyring,)))  # the public API
    assert [f.soname for f in result.fetched] == ["libzz.so.1"] and result.trust["allow_unsigned"] is False


def test_cli_resolve_trust_options_and_the_bundle_cache(tmp_path, private_mirror, signing_key, other_key, real_libs,
                                                        monkeypatch):
    monkeypatch.setenv(signatures.KEYRING_ENV, str(signing_key.keyring))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv"))
    links = tmp_path / "links"
    build_wheel(links, "zzext", "1.0", tags=["cp39-cp39-manylinux_2_17_x86_64"],
                files={"zzext/_ext.so": real_libs["ext"].read_bytes()})
    (tmp_path / "requirements.txt").write_text("zzext\n")
    profile = _profile_file(tmp_path, private_mirror.url)
    base = ["resolve", "requirements.txt", "-R", str(profile), "-o", "build", "--no-index", "-f", str(links),
            "--no-slim", "--no-verify"]
    runner = CliRunner()

    def run(*extra):
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            return runner.invoke(cli_main, base + list(extra))
        finally:
            os.chdir(cwd)

    refused = run()
    assert refused.exit_code == EXIT_DEBIAN, refused.output
    assert "--allow-unsigned" in refused.output and not (tmp_path / "build").exists()
    loud = run("--allow-unsigned")
    assert loud.exit_code == EXIT_OK, loud.output
    assert "NOT authenticated" in loud.output
    record = json.loads((tmp_path / "build" / ".fcslim" / "libraries.json").read_text())
    assert record["debian"]["trust"]["allow_unsigned"] is True
    # the bundle built unauthenticated is cached, but never restored for a run that did not allow it
    again = run()
    assert again.exit_code == EXIT_DEBIAN, again.output
    keyed = run("--debian-keyring", str(other_key.keyring))
    assert keyed.exit_code == EXIT_OK, keyed.output
    record = json.loads((tmp_path / "build" / ".fcslim" / "libraries.json").read_text())
    assert record["debian"]["authentication"]["testrel"].startswith("signed")
