"""uv's messages are classified the same whatever the terminal width.

uv wraps its diagnostics at ``COLUMNS`` (80 when stderr is not a terminal, as
under pytest-xdist): the samples below are uv 0.13's own output at 40 columns,
and the install tests run the real uv with COLUMNS=40 and 1000.
"""

from __future__ import annotations

import pytest

from fcslim.core.errors import ConflictError, NoCompatibleWheelError, UnknownPackageError
from fcslim.resolve.failures import IncompleteLockError
from fcslim.resolve.install import InstallOptions, install
from fcslim.resolve.uv_messages import Failure, classify, parse, sdist_only_names
from fcslim.target.profile import load_profile

UNKNOWN_40 = """\
Using CPython 3.11.7 interpreter at: /usr/bin/python3
error: No solution found when resolving
       dependencies
  cause: Because no-such-package-here
         was not found in the provided
         package locations and you
         require no-such-package-here,
         we can conclude that your
         requirements are unsatisfiable.
"""

SDIST_40 = """\
error: No solution found when resolving
       dependencies
  cause: Because puresrc==1.0 has
         no usable wheels and only
         puresrc==1.0 is available, we
         can conclude that all versions
         of puresrc cannot be used.

hint: Wheels are required for `puresrc` because building from source is disabled for all packages (i.e., with `--no-build`)
"""

HASH_40 = """\
Resolved 1 package in 0.87ms
error: Failed to download `alpha==2.0`
  cause: Hash mismatch for `alpha==2.0`

         Expected:

         sha256:0000

         Computed:

         sha256:5398
"""

DNS_40 = """\
error: Request failed after 3 retries
       in 11.0s
  cause: Failed to fetch:
         https://no-such-host.invalid/simple/alpha/
  cause: error sending request for url
         (https://no-such-host.invalid/simple/alpha/)
  cause: client error (Connect)
  cause: dns error
"""

BUILD_40 = """\
   Building nativesrc==1.0
error: Failed to download and build
       `nativesrc==1.0`
  cause: Failed to resolve requirements
         from `build-system.requires`
  cause: Because setuptools was not
         found in the provided package
         locations and you require
         setuptools, we can conclude
         that your requirements are
         unsatisfiable.
"""

# A warning that mentions the network must not turn a conflict into a network error.
WARNING_THEN_CONFLICT = """\
warning: A managed Python download is available for Python 3.10, but an error
         occurred when attempting to download it.
  cause: dns error
error: No solution found when resolving dependencies
  cause: Because you require alpha==1.0 and alpha==2.0, we can conclude that
         your requirements are unsatisfiable.
"""


def test_continuation_lines_are_joined_onto_their_entry():
    entries = parse(UNKNOWN_40)
    assert [e.level for e in entries] == ["error", "cause"]
    assert entries[0].text == "No solution found when resolving dependencies"
    assert "was not found in the provided package locations and you require" in entries[1].text


@pytest.mark.parametrize("sample, kind, names", [
    (UNKNOWN_40, Failure.UNKNOWN_PACKAGE, ("no-such-package-here",)),
    (SDIST_40, Failure.NO_WHEEL, ("puresrc",)),
    (HASH_40, Failure.HASH_MISMATCH, ("alpha",)),
    (DNS_40, Failure.NETWORK, ()),
    (BUILD_40, Failure.BUILD, ("nativesrc",)),
    (WARNING_THEN_CONFLICT, Failure.CONFLICT, ()),
])
def test_wrapped_samples_are_classified(sample, kind, names):
    got = classify(sample)
    assert got.kind is kind
    assert got.names == names


def test_details_survive_wrapping():
    assert classify(HASH_40).details == {"expected": "sha256:0000", "computed": "sha256:5398"}
    dns = classify(DNS_40).details
    assert dns["reason"] == "the host name does not resolve"
    assert dns["url"] == "https://no-such-host.invalid/simple/alpha/"
    assert sdist_only_names(SDIST_40) == ["puresrc"]


@pytest.fixture(scope="module")
def offline(links, tmp_path_factory) -> InstallOptions:
    return InstallOptions(no_index=True, find_links=(str(links),), cache_dir=tmp_path_factory.mktemp("uvcache"))


@pytest.mark.parametrize("columns", ["40", "1000"])
def test_real_uv_at_any_width(tmp_path, offline, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    profile = load_profile("fc-python3.10")
    cases = [
        ("alpha\nno-such-package-here\n", UnknownPackageError, "no-such-package-here (at"),
        ("alpha==1.0\nalpha==2.0\n", ConflictError, "requirements.txt:1"),
        ("newglibc==2.0\n", NoCompatibleWheelError, "only manylinux_2_34 wheels"),
        ("alpha==2.0 --hash=sha256:" + "0" * 64 + "\nneeds-backport==1.0 --hash=sha256:" + "1" * 64 + "\n",
         IncompleteLockError, "backport"),
    ]
    for i, (text, error, expected) in enumerate(cases):
        req = tmp_path / f"{i}" / "requirements.txt"
        req.parent.mkdir()
        req.write_text(text)
        with pytest.raises(error) as caught:
            install(req, profile, tmp_path / f"out{i}", offline)
        assert expected in str(caught.value)
