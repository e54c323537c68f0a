"""fcslim.elf.graph: resolution, version and machine checks, dlopen needs (offline)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from fcslim.core.errors import ProfileError
from fcslim.elf.graph import analyse, needs_of
from fcslim.elf.policy import dlopen_needs, system_image, system_libraries
from fcslim.core.resources import data_path
from fcslim.target.profile import builtin_profiles, load_profile
from tests.support.elffiles import (
    VersionRequirement,
    build_shared_library,
    set_machine,
    truncate,
)

FC310 = load_profile("fc-python3.10")  # glibc 2.28, fc-debian10, GLIBCXX_3.4.25
DEB12 = load_profile("debian12-python3.11")  # glibc 2.36, GLIBCXX_3.4.30


@pytest.fixture(scope="module")
def parts(tmp_path_factory, gcc) -> dict[str, Path]:
    """Libraries built once and copied into each test's tree."""
    d = tmp_path_factory.mktemp("parts")
    out = {}
    out["dep"] = build_shared_library(d / "libdep-1a2b.so.1", "int dep(void) { return 1; }\n",
                                      soname="libdep-1a2b.so.1")
    out["ext_runpath"] = build_shared_library(
        d / "ext_runpath.so", "int dep(void); int f(void) { return dep(); }\n",
        link=[out["dep"]], runpath=["$ORIGIN/../pkg.libs"])
    out["ext_plain"] = build_shared_library(
        d / "ext_plain.so", "int dep(void); int f(void) { return dep(); }\n", link=[out["dep"]])
    out["ext_missing"] = build_shared_library(d / "ext_missing.so", needed=["libnowhere.so.7"])
    out["glibc_299"] = build_shared_library(
        d / "glibc_299.so", version_requirement=VersionRequirement("libc.so.6", "GLIBC_2.99"))
    out["glibc_229"] = build_shared_library(
        d / "glibc_229.so", version_requirement=VersionRequirement("libc.so.6", "GLIBC_2.29"))
    out["cxx_3426"] = build_shared_library(
        d / "cxx_3426.so", version_requirement=VersionRequirement("libstdc++.so.6", "GLIBCXX_3.4.26"))
    out["fake_stdcxx"] = build_shared_library(
        d / "libstdc++.so.6", soname="libstdc++.so.6", define_versions=["GLIBCXX_3.4.25", "GLIBCXX_3.4.26"])
    out["old_stdcxx"] = build_shared_library(
        d / "old/libstdc++.so.6", soname="libstdc++.so.6", define_versions=["GLIBCXX_3.4.20"])
    # RPATH inheritance: top has DT_RPATH to its libs dir; mid (no RPATH) needs leaf next to it.
    out["leaf"] = build_shared_library(d / "libleaf.so.1", soname="libleaf.so.1")
    out["mid"] = build_shared_library(d / "libmid.so.1", "int fm(void) { return 0; }\n",
                                      soname="libmid.so.1", link=[out["leaf"]])
    out["top"] = build_shared_library(d / "top.so", link=[out["mid"]], rpath=["$ORIGIN/../top.libs"])
    return out


def place(root: Path, src: Path, rel: str) -> Path:
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest


def test_missing_need_is_reported_with_its_needer(tmp_path, parts):
    place(tmp_path, parts["ext_missing"], "pkg/_ext.so")
    report = analyse(tmp_path, FC310)
    assert not report.ok
    assert [(m.soname, m.needed_by) for m in report.missing] == [("libnowhere.so.7", ("pkg/_ext.so",))]
    assert report.resolved[("pkg/_ext.so", "libc.so.6")] == "system"


def test_origin_runpath_reaches_dot_libs(tmp_path, parts):
    place(tmp_path, parts["dep"], "pkg.libs/libdep-1a2b.so.1")
    place(tmp_path, parts["ext_runpath"], "pkg/_ext.so")
    report = analyse(tmp_path, FC310)
    assert report.ok, report.missing
    assert report.resolved[("pkg/_ext.so", "libdep-1a2b.so.1")] == "bundle:pkg.libs/libdep-1a2b.so.1"
    assert report.load_order() == ["pkg.libs/libdep-1a2b.so.1"]
    graph = report.graph
    assert graph.needs[("file", "pkg/_ext.so")] >= {"libdep-1a2b.so.1", "libc.so.6"}
    assert graph.provided_by == {"libdep-1a2b.so.1": {"pkg/_ext.so": "pkg.libs/libdep-1a2b.so.1"}}
    assert "libc.so.6" in graph.system and not graph.missing
    assert set(graph.file_sizes) == {"pkg/_ext.so", "pkg.libs/libdep-1a2b.so.1"}


def test_without_runpath_the_same_layout_is_missing(tmp_path, parts):
    place(tmp_path, parts["dep"], "pkg.libs/libdep-1a2b.so.1")
    place(tmp_path, parts["ext_plain"], "pkg/_ext.so")
    report = analyse(tmp_path, FC310)
    assert report.missing_sonames == ["libdep-1a2b.so.1"]


def test_bundle_lib_dir_and_root_are_on_the_library_path(tmp_path, parts):
    place(tmp_path, parts["dep"], "lib/libdep-1a2b.so.1")
    place(tmp_path, parts["ext_plain"], "pkg/_ext.so")
    report = analyse(tmp_path, FC310)
    assert report.resolved[("pkg/_ext.so", "libdep-1a2b.so.1")] == "bundle:lib/libdep-1a2b.so.1"
    shutil.rmtree(tmp_path / "lib")
    place(tmp_path, parts["dep"], "libdep-1a2b.so.1")  # /code is on FC's LD_LIBRARY_PATH
    report = analyse(tmp_path, FC310)
    assert report.resolved[("pkg/_ext.so", "libdep-1a2b.so.1")] == "bundle:libdep-1a2b.so.1"


def test_needs_resolve_through_symlinks(tmp_path, parts):
    place(tmp_path, parts["dep"], "lib/libdep-1a2b.so.1.0.0")
    (tmp_path / "lib" / "libdep-1a2b.so.1").symlink_to("libdep-1a2b.so.1.0.0")
    place(tmp_path, parts["ext_plain"], "pkg/_ext.so")
    report = analyse(tmp_path, FC310)
    assert report.resolved[("pkg/_ext.so", "libdep-1a2b.so.1")] == "bundle:lib/libdep-1a2b.so.1.0.0"


def test_rpath_of_the_loader_is_inherited(tmp_path, parts):
    place(tmp_path, parts["top"], "pkg/top.so")
    place(tmp_path, parts["mid"], "top.libs/libmid.so.1")
    place(tmp_path, parts["leaf"], "top.libs/libleaf.so.1")
    report = analyse(tmp_path, FC310)
    assert report.ok, report.missing
    assert report.resolved[("top.libs/libmid.so.1", "libleaf.so.1")] == "bundle:top.libs/libleaf.so.1"
    order = report.load_order()
    assert order.index("top.libs/libleaf.so.1") < order.index("top.libs/libmid.so.1")
    # missing after the first pass, found in the loader's RPATH by the second
    assert report.graph.provided_by["libleaf.so.1"] == {"top.libs/libmid.so.1": "top.libs/libleaf.so.1"}
    assert not report.graph.missing


def test_glibc_version_newer_than_the_profile(tmp_path, parts):
    place(tmp_path, parts["glibc_299"], "pkg/new.so")
    place(tmp_path, parts["glibc_229"], "pkg/mid.so")
    report = analyse(tmp_path, FC310)
    problems = {(p.path, p.kind): p.detail for p in report.unloadable}
    assert "GLIBC_2.99" in problems[("pkg/new.so", "glibc-too-new")]
    assert "GLIBC_2.29" in problems[("pkg/mid.so", "glibc-too-new")]
    assert "2.28" in problems[("pkg/mid.so", "glibc-too-new")]
    newer = analyse(tmp_path, DEB12)
    assert [p.path for p in newer.unloadable] == ["pkg/new.so"]


def test_glibcxx_version_against_the_image_and_a_bundled_libstdcxx(tmp_path, parts):
    place(tmp_path, parts["cxx_3426"], "pkg/_cxx.so")
    report = analyse(tmp_path, FC310)
    [problem] = report.unloadable
    assert problem.kind == "symbol-version-too-new"
    assert "GLIBCXX_3.4.26" in problem.detail and "GLIBCXX_3.4.25" in problem.detail
    assert analyse(tmp_path, DEB12).ok
    # A bundled libstdc++ that defines the version satisfies the need ...
    place(tmp_path, parts["fake_stdcxx"], "lib/libstdc++.so.6")
    report = analyse(tmp_path, FC310)
    assert report.ok, report.unloadable
    assert report.resolved[("pkg/_cxx.so", "libstdc++.so.6")] == "bundle:lib/libstdc++.so.6"
    # ... and one that does not define it is named.
    place(tmp_path, parts["old_stdcxx"], "lib/libstdc++.so.6")
    [problem] = analyse(tmp_path, FC310).unloadable
    assert problem.kind == "symbol-version-too-new" and "lib/libstdc++.so.6" in problem.detail


def test_wrong_machine_file_and_skipped_wrong_machine_candidate(tmp_path, parts):
    set_machine(place(tmp_path, parts["dep"], "lib/libdep-1a2b.so.1"), "AARCH64")
    place(tmp_path, parts["dep"], "pkg.libs/libdep-1a2b.so.1")
    place(tmp_path, parts["ext_runpath"], "pkg/_ext.so")
    report = analyse(tmp_path, FC310)
    # ld.so skips the aarch64 copy found first on LD_LIBRARY_PATH and uses the RUNPATH one.
    assert report.resolved[("pkg/_ext.so", "libdep-1a2b.so.1")] == "bundle:pkg.libs/libdep-1a2b.so.1"
    assert [(p.path, p.kind) for p in report.unloadable] == [("lib/libdep-1a2b.so.1", "wrong-machine")]
    assert "AARCH64" in report.unloadable[0].detail
    arm = analyse(tmp_path, load_profile("aws-python3.12-arm64"))
    assert {p.path for p in arm.unloadable if p.kind == "wrong-machine"} == {
        "pkg.libs/libdep-1a2b.so.1", "pkg/_ext.so"}


def test_truncated_file_is_malformed(tmp_path, parts):
    truncate(place(tmp_path, parts["dep"], "pkg/cut.so"), 0.3)
    place(tmp_path, parts["ext_missing"], "pkg/_ext.so")
    report = analyse(tmp_path, FC310)
    kinds = {(p.path, p.kind) for p in report.unloadable}
    assert ("pkg/cut.so", "malformed") in kinds
    assert report.missing_sonames == ["libnowhere.so.7"]  # the scan went on


def _dist(root: Path, name: str, version: str = "1.0") -> None:
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")


def test_dlopen_needs_come_from_installed_distributions(tmp_path, parts):
    _dist(tmp_path, "pyzbar")
    _dist(tmp_path, "Python_Magic")
    _dist(tmp_path, "requests")
    assert dlopen_needs(tmp_path) == {"pyzbar": ["libzbar.so.0"], "python-magic": ["libmagic.so.1"]}
    report = analyse(tmp_path, FC310)
    assert {(m.soname, m.needed_by) for m in report.missing} == {
        ("libzbar.so.0", ("dlopen:pyzbar",)), ("libmagic.so.1", ("dlopen:python-magic",))}
    assert report.graph.distributions == {"pyzbar", "python-magic"}
    assert report.graph.needs == {("dist", "pyzbar"): {"libzbar.so.0"}, ("dist", "python-magic"): {"libmagic.so.1"}}
    assert report.graph.missing == {"libzbar.so.0", "libmagic.so.1"}
    place(tmp_path, parts["dep"], "lib/libzbar.so.0")
    report = analyse(tmp_path, FC310)
    assert report.resolved[("dlopen:pyzbar", "libzbar.so.0")] == "bundle:lib/libzbar.so.0"
    assert report.missing_sonames == ["libmagic.so.1"]
    assert report.graph.provided_by["libzbar.so.0"] == {"dlopen:pyzbar": "lib/libzbar.so.0"}
    assert report.graph.missing == {"libmagic.so.1"}


def test_dlopen_data_file_has_at_least_ten_sourced_entries():
    data = json.loads(data_path("dlopen_libraries.json").read_text())
    entries = data["distributions"]
    assert len(entries) >= 10
    for name, entry in entries.items():
        assert name == name.lower() and entry["sonames"] and entry["source"]


def test_system_libraries_per_image():
    profiles = builtin_profiles()
    for profile in profiles.values():
        libs = system_libraries(profile)
        assert {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"} <= libs
        assert system_image(profile).glibcxx_max
    # libX11 is in the manylinux policy but not in a minimal Debian root.
    assert "libX11.so.6" not in system_libraries(DEB12)
    assert "libpython3.10.so.1.0" in system_libraries(FC310)
    with pytest.raises(ProfileError, match="no-such-image"):
        system_libraries(replace(FC310, system_image="no-such-image"))


def test_needs_of_reports_only_the_given_files(tmp_path, parts):
    from fcslim.elf.facts import read_elf

    place(tmp_path, parts["ext_missing"], "a/_one.so")
    place(tmp_path, parts["dep"], "pkg.libs/libdep-1a2b.so.1")
    place(tmp_path, parts["ext_runpath"], "pkg/_two.so")
    two = read_elf(tmp_path / "pkg" / "_two.so", tmp_path)
    assert needs_of([two], FC310, tmp_path) == set()
    one = read_elf(tmp_path / "a" / "_one.so", tmp_path)
    assert needs_of([one, two], FC310, tmp_path) == {"libnowhere.so.7"}
