"""The order bundle libraries load in (fcslim.elf.order, LibraryReport.load_order):
dependencies first, a cycle's members together by path, ties by the smallest
path (offline; the ELF files are written byte by byte)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from fcslim.elf.graph import analyse
from fcslim.elf.order import dependency_order, strongly_connected
from fcslim.target.profile import load_profile
from tests.support.elfbytes import ElfSpec, elf_bytes

FC310 = load_profile("fc-python3.10")


def test_a_chain_loads_its_last_dependency_first():
    assert dependency_order(["c", "b", "a"], [("c", "b"), ("b", "a")]) == ["c", "b", "a"]


def test_a_diamond_loads_its_base_first_and_breaks_ties_by_name():
    # base is needed by left and right, both needed by top
    edges = [("base", "right"), ("base", "left"), ("right", "top"), ("left", "top")]
    assert dependency_order(["top", "right", "left", "base"], edges) == ["base", "left", "right", "top"]


def test_a_cycle_comes_together_by_name_after_what_it_needs():
    # a <-> b need each other; both need z; y needs a
    edges = [("a", "b"), ("b", "a"), ("z", "a"), ("z", "b"), ("a", "y")]
    assert dependency_order(["y", "b", "a", "z"], edges) == ["z", "a", "b", "y"]


def test_a_cycle_is_placed_by_its_smallest_member():
    # two independent groups: the cycle {m, c} (smallest member c) and d alone
    edges = [("m", "c"), ("c", "m")]
    assert dependency_order(["m", "d", "c"], edges) == ["c", "m", "d"]
    # a cycle through three libraries, with one needed by an outsider
    edges = [("x", "y"), ("y", "w"), ("w", "x"), ("y", "a")]
    assert dependency_order(["a", "w", "x", "y"], edges) == ["w", "x", "y", "a"]


def test_self_loops_repeats_and_unlisted_nodes():
    assert dependency_order(["a"], [("a", "a"), ("b", "a"), ("b", "a")]) == ["b", "a"]
    assert dependency_order([], []) == []


def test_a_long_chain_needs_no_deep_recursion():
    names = [f"lib{i:05d}.so" for i in range(20000)]
    edges = list(zip(names[1:], names[:-1]))  # each needs the next: the last loads first
    assert dependency_order(names, edges) == names[::-1]
    cycle = edges + [(names[0], names[-1])]
    assert strongly_connected(names, {b: {a} for b, a in cycle}) == [names]


def _reference_order(nodes: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """The definition, by brute force: groups of mutually reachable nodes; of
    every order of the groups that keeps each edge's ``before`` first, the one
    whose sequence of smallest members is lexicographically smallest."""
    reach = {n: {n} for n in nodes}
    for _ in nodes:
        for before, after in edges:
            reach[before] |= reach[after]
    groups = sorted({tuple(sorted(m for m in nodes if n in reach[m] and m in reach[n])) for n in nodes})
    group_of = {m: g for g in groups for m in g}
    best = None
    for order in itertools.permutations(groups):
        position = {g: i for i, g in enumerate(order)}
        if all(position[group_of[b]] <= position[group_of[a]] for b, a in edges):
            keys = [g[0] for g in order]
            if best is None or keys < best[0]:
                best = (keys, order)
    return [m for g in best[1] for m in g]


@pytest.mark.parametrize("seed", range(4))
def test_random_graphs_match_the_definition(seed):
    rng = random.Random(seed)
    for _ in range(150):
        nodes = sorted({f"l{rng.randint(0, 20):02d}" for _ in range(rng.randint(1, 7))})
        edges = [(a, b) for a in nodes for b in nodes if rng.random() < 0.25]
        assert dependency_order(rng.sample(nodes, len(nodes)), edges) == _reference_order(nodes, edges), edges


def _library(root: Path, rel: str, soname: str, needed: tuple[str, ...] = ()) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(elf_bytes(ElfSpec(soname=soname, needed=needed)))


def test_a_bundle_with_a_cycle_and_a_diamond(tmp_path):
    # lib/ is on the runtime's library path: the needs resolve there.
    _library(tmp_path, "pkg/_ext.so", "_ext.so", ("libtop.so.1", "libcyc_a.so.1"))
    _library(tmp_path, "lib/libtop.so.1", "libtop.so.1", ("libleft.so.1", "libright.so.1"))
    _library(tmp_path, "lib/libleft.so.1", "libleft.so.1", ("libbase.so.1",))
    _library(tmp_path, "lib/libright.so.1", "libright.so.1", ("libbase.so.1",))
    _library(tmp_path, "lib/libbase.so.1", "libbase.so.1")
    _library(tmp_path, "lib/libcyc_b.so.1", "libcyc_b.so.1", ("libcyc_a.so.1", "libbase.so.1"))
    _library(tmp_path, "lib/libcyc_a.so.1", "libcyc_a.so.1", ("libcyc_b.so.1",))
    report = analyse(tmp_path, FC310)
    assert report.ok, (report.missing, report.unloadable)
    assert report.load_order() == [
        "lib/libbase.so.1",
        "lib/libcyc_a.so.1", "lib/libcyc_b.so.1",  # need each other: together, by path
        "lib/libleft.so.1", "lib/libright.so.1",
        "lib/libtop.so.1",
    ]
    assert report.to_dict(include_files=False)["load_order"] == report.load_order()
    assert report.graph.provided_by["libbase.so.1"] == {
        "lib/libleft.so.1": "lib/libbase.so.1", "lib/libright.so.1": "lib/libbase.so.1",
        "lib/libcyc_b.so.1": "lib/libbase.so.1"}
