"""Offline tests of fcslim.fetch.closure: a bundle whose extension module needs
libraries only a (local, signed) Debian mirror has; the closure over their own
needs, placement without links, records, the find_library/MAGIC hook, RUNPATH
patching, and the errors (no package, glibc, unreachable mirror) with their exit
codes, through the library API and the `fetch` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcslim.cli.fetch_cmd import fetch as fetch_command
from fcslim.debian.errors import NoPackageError
from fcslim.debian.signatures import Trust
from fcslim.elf.facts import read_elf
from fcslim.core.errors import EXIT_DEBIAN, EXIT_NETWORK
from fcslim.fetch.closure import GlibcLibraryError, fetch_missing, is_glibc_library
from fcslim.elf.graph import analyse

from .support.elffiles import build_shared_library
from tests.support.debian_mirror import unreachable_url
from tests.support.tools import require_tool
from tests.support.fetch_world import MULTIARCH, built, bundle_with, key, mirror, private_cache, profile_for  # noqa: F401  (fixtures)

def test_closure_placed_as_plain_files_and_recorded(tmp_path, mirror, key, built):
    bundle = bundle_with(tmp_path, built)
    profile = profile_for(mirror.url)
    assert {m.soname for m in analyse(bundle, profile).missing} == {"libfoo.so.1"}
    result = fetch_missing(bundle, profile, trust=Trust((key.keyring,)))
    assert [f.soname for f in result.fetched] == ["libbar.so.2", "libfoo.so.1"]
    for name, source in (("libfoo.so.1", built["foo"]), ("libbar.so.2", built["bar"])):
        placed = bundle / "lib" / name
        assert placed.is_file() and not placed.is_symlink()
        assert placed.read_bytes() == source.read_bytes()
    assert not any(p.is_symlink() for p in bundle.rglob("*"))
    assert analyse(bundle, profile).ok
    record = json.loads((bundle / ".fcslim" / "libraries.json").read_text())
    assert record["schema"] == 1 and record["missing"] == []
    by_soname = {f["soname"]: f for f in record["fetched"]}
    foo = by_soname["libfoo.so.1"]
    assert foo["package"] == "libfoo1" and foo["version"] == "1.2.3-1" and foo["source_package"] == "foo"
    assert foo["license"] == "LGPL-2.1+, GPL-2+"
    assert foo["member"] == f"{MULTIARCH}/libfoo.so.1.2.3"
    assert foo["needed_by"] == ["pkg/_ext.so"] and foo["path"] == "lib/libfoo.so.1"
    assert foo["deb_url"].startswith(mirror.url) and len(foo["deb_sha256"]) == 64
    assert by_soname["libbar.so.2"]["needed_by"] == ["lib/libfoo.so.1"]
    assert record["debian"]["authentication"]["testrel"].startswith("signed")
    assert (bundle / foo["copyright"]).read_text().startswith("Format:")
    assert record["hooks"] == [] and not (bundle / "sitecustomize.py").exists()

    # A second run fetches nothing and keeps the records.
    again = fetch_missing(bundle, profile, trust=Trust((key.keyring,)))
    assert [f.soname for f in again.fetched] == ["libbar.so.2", "libfoo.so.1"]
    assert again.authentication == result.authentication


def test_dlopen_libraries_get_find_library_hook_and_data_file(tmp_path, mirror, key, built):
    bundle = bundle_with(tmp_path, built, "pyzbar", "python-magic")
    result = fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)))
    fetched = {f.soname: f for f in result.fetched}
    assert fetched["libzbar.so.0"].needed_by == ("dlopen:pyzbar",)
    assert fetched["libmagic.so.1"].needed_by == ("dlopen:python-magic",)
    mgc = "lib/data/usr/lib/file/magic.mgc"
    assert [d.path for d in result.data_files] == [mgc]
    assert result.data_files[0].package == "libmagic-mgc" and result.data_files[0].library == "libmagic.so.1"
    assert (bundle / mgc).read_bytes() == b"MAGIC-DATABASE"
    assert result.env == {"MAGIC": mgc} and result.hooks == ["sitecustomize.py"]

    # The hook works in a fresh interpreter with only PYTHONPATH set, and
    # hands over to the sitecustomize it shadows.
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['SHADOWED_RAN'] = '1'\n")
    code = ("import ctypes.util, os; print(ctypes.util.find_library('zbar')); print(os.environ.get('MAGIC')); "
            "print(os.environ.get('SHADOWED_RAN')); print(ctypes.util.find_library('fcslimnothing'))")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{bundle}:{other}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    zbar, magic, shadowed, nothing = out.stdout.split("\n")[:4]
    assert Path(zbar) == bundle / "lib" / "libzbar.so.0"
    assert Path(magic) == bundle / mgc
    assert shadowed == "1" and nothing == "None"


def test_users_own_sitecustomize_is_left_alone(tmp_path, mirror, key, built):
    bundle = bundle_with(tmp_path, built, "python-magic")
    (bundle / "sitecustomize.py").write_text("# mine\n")
    result = fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)))
    assert (bundle / "sitecustomize.py").read_text() == "# mine\n"
    assert result.hooks == [] and any("MAGIC=" in n for n in result.notes)


def test_patch_runpath(tmp_path, mirror, key, built):
    require_tool("patchelf", purpose="--patch-runpath rewrites RUNPATH with it")
    bundle = bundle_with(tmp_path, built)
    result = fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)), patch_runpath=True)
    assert set(result.runpath_patched) == {"pkg/_ext.so", "lib/libfoo.so.1", "lib/libbar.so.2"}
    assert read_elf(bundle / "pkg" / "_ext.so").runpath == ("$ORIGIN/../lib",)
    assert read_elf(bundle / "lib" / "libfoo.so.1").runpath == ("$ORIGIN",)


def test_patch_runpath_never_writes_through_a_hard_link(tmp_path, mirror, key, built):
    """Installed files are hard links into uv's cache: patchelf must edit the
    bundle's own copy, never the cache's."""
    require_tool("patchelf", purpose="--patch-runpath rewrites RUNPATH with it")
    bundle = bundle_with(tmp_path, built)
    ext = bundle / "pkg" / "_ext.so"
    cache_copy = tmp_path / "uv-cache-copy.so"
    os.link(ext, cache_copy)
    original = cache_copy.read_bytes()
    fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)), patch_runpath=True)
    assert read_elf(ext).runpath == ("$ORIGIN/../lib",)
    assert cache_copy.read_bytes() == original and cache_copy.stat().st_nlink == 1


def test_soname_no_package_provides(tmp_path, mirror, key, built):
    ext = build_shared_library(tmp_path / "odd.so", "int f(void){return 0;}\n", needed=["libnothere.so.9"],
                               link=[built["foo"]])
    bundle = bundle_with(tmp_path, built, ext=ext)
    lenient = fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)))
    assert [o.soname for o in lenient.optional_missing] == ["libnothere.so.9"]  # only an extension needs it
    with pytest.raises(NoPackageError) as info:
        fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)), strict_optional=True)
    assert info.value.exit_code == EXIT_DEBIAN
    assert "libnothere.so.9" in str(info.value) and "pkg/_ext.so" in str(info.value)
    record = json.loads((bundle / ".fcslim" / "libraries.json").read_text())
    assert record["missing"] == [{"soname": "libnothere.so.9", "needed_by": ["pkg/_ext.so"]}]
    assert {f["soname"] for f in record["fetched"]} == {"libfoo.so.1", "libbar.so.2"}


def test_glibc_libraries_are_refused(tmp_path, mirror, key, gcc):
    assert all(is_glibc_library(s) for s in ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
                                             "ld-linux-x86-64.so.2", "libnss_files.so.2", "libc_malloc_debug.so.0"))
    assert not any(is_glibc_library(s) for s in ("libcrypt.so.1", "libcurl.so.4", "libmagic.so.1", "libdbus-1.so.3"))
    ext = build_shared_library(tmp_path / "x.so", "int f(void){return 0;}\n", needed=["libc_malloc_debug.so.0"])
    bundle = bundle_with(tmp_path, {}, ext=ext)
    with pytest.raises(GlibcLibraryError, match="libc_malloc_debug.so.0") as info:
        fetch_missing(bundle, profile_for(mirror.url), trust=Trust((key.keyring,)))
    assert info.value.exit_code == EXIT_DEBIAN


def test_cli_fetch(tmp_path, mirror, key, built, monkeypatch):
    monkeypatch.setenv("FCSLIM_DEBIAN_KEYRING", str(key.keyring))
    profile = profile_for("http://deb.debian.org/debian").to_dict()
    profile_path = tmp_path / "profile.json"
    profile_path.write_text(json.dumps(profile))
    bundle = bundle_with(tmp_path, built)
    runner = CliRunner()
    ok = runner.invoke(fetch_command, [str(bundle), "--runtime", str(profile_path), "--debian-mirror", mirror.url])
    assert ok.exit_code == 0, ok.output
    assert "lib/libfoo.so.1" in ok.output and "libfoo1 1.2.3-1" in ok.output and "(testrel: signed)" in ok.output

    as_json = runner.invoke(fetch_command, [str(bundle), "-R", str(profile_path), "--debian-mirror", mirror.url,
                                            "--json"])
    assert json.loads(as_json.output)["fetched"][1]["package"] == "libfoo1"

    odd = build_shared_library(tmp_path / "odd.so", "int f(void){return 0;}\n", needed=["libnothere.so.9"])
    (bundle / "pkg" / "odd.so").write_bytes(odd.read_bytes())
    missing = runner.invoke(fetch_command, [str(bundle), "-R", str(profile_path), "--debian-mirror", mirror.url])
    assert missing.exit_code == EXIT_DEBIAN and "libnothere.so.9" in missing.output

    monkeypatch.setenv("FCSLIM_CACHE_DIR", str(tmp_path / "fresh-cache"))
    down = runner.invoke(fetch_command, [str(bundle), "-R", str(profile_path), "--debian-mirror", unreachable_url()])
    assert down.exit_code == EXIT_NETWORK and "Cannot reach the Debian mirror" in down.output


def test_unreachable_mirror_falls_back_to_cached_indexes(tmp_path, mirror, key, built):
    profile = profile_for(mirror.url)
    first = bundle_with(tmp_path / "a", built)
    fetch_missing(first, profile, trust=Trust((key.keyring,)))
    mirror.stop()
    second = bundle_with(tmp_path / "b", built)
    result = fetch_missing(second, profile, trust=Trust((key.keyring,)))
    assert (second / "lib" / "libfoo.so.1").is_file()
    assert any("cached" in w for w in result.warnings)
    record = json.loads((second / ".fcslim" / "libraries.json").read_text())
    assert any("cached" in w for w in record["warnings"])
