"""Graphviz, proven in a clean bullseye root: a program whose plugins are
listed in a file Debian makes at install time.

One `fcslim resolve` of graphviz + pydot (PyPI) for debian11-python3.9: the
wrappers bring Debian's graphviz programs into bin/ (``dot`` is a link to
libgvc6's ``/usr/sbin/libgvc6-config-update``, so it comes from libgvc6), the
plugins come relocated under lib/data with ``GVBINDIR`` set by the start-up
hook, and ``config6a`` is made at build time by ``libgvc6-config-update -c``
in a clean root of the target.  In the clean root, with nothing else
installed, both wrappers render SVG, PNG and PDF (cairo) with the dot and neato
engines; without config6a the same run fails as it does for users today.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.e2e import resolve_with_check

pytestmark = [pytest.mark.network, pytest.mark.rootfs, pytest.mark.slow]

CHECK = r'''
import graphviz, pydot
dot = graphviz.Digraph()
dot.edge("a", "b")
print("svg:", dot.pipe(format="svg").startswith(b"<?xml"))
print("png:", dot.pipe(format="png")[:4] == b"\x89PNG")
print("pdf:", dot.pipe(format="pdf")[:5] == b"%PDF-")
print("neato:", b"<svg" in graphviz.Graph(engine="neato", body=["x -- y"]).pipe(format="svg"))
graph = pydot.graph_from_dot_data("digraph { p -> q }")[0]
print("pydot:", graph.create_png()[:4] == b"\x89PNG")
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, Path]:
    return resolve_with_check(tmp_path_factory.mktemp("graphviz"), "graphviz\npydot\n", CHECK)


def test_dot_comes_from_libgvc6_and_config6a_is_made(bundle):
    build, _ = bundle
    record = json.loads((build / ".fcslim" / "libraries.json").read_text())
    programs = {e["name"]: e for e in record["executables"]}
    assert programs["dot"]["package"] == "libgvc6" and programs["dot"]["requested_by"].startswith("wrapper:")
    assert {"neato", "twopi", "circo", "fdp"} <= set(programs)
    made = [f for f in record["data_files"] if f["path"].endswith("/config6a")]
    assert len(made) == 1 and made[0]["member"] == "(made by usr/sbin/libgvc6-config-update -c)"
    config = (build / made[0]["path"]).read_text()
    for plugin in ("core", "dot_layout", "neato_layout", "gd", "pango"):
        assert f"libgvplugin_{plugin}.so.6 " in config  # every plugin loaded in the target root
    assert made[0]["path"] == "lib/graphviz/config6a" and (build / "lib" / "graphviz" / "libgvplugin_core.so.6").is_file()


def test_graphviz_renders_in_the_clean_root(bundle, run_in_bullseye):
    build, check = bundle
    run = run_in_bullseye(build, ["python3", "/check/check.py"], binds={str(check): "/check"})
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in run.stdout.strip().splitlines())
    assert lines == {"svg": "True", "png": "True", "pdf": "True", "neato": "True", "pydot": "True"}


def test_without_config6a_dot_knows_no_layout(bundle, run_in_bullseye, tmp_path):
    build, check = bundle
    copy = tmp_path / "build"
    shutil.copytree(build, copy, symlinks=True)
    for config in copy.rglob("config6a"):
        config.unlink()
    run = run_in_bullseye(copy, ["python3", "/check/check.py"], binds={str(check): "/check"})
    assert run.returncode != 0
    assert "no layout engine support" in run.stderr or "not recognized" in run.stderr
