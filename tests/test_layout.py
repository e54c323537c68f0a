"""The package's shape, checked: no import cycles (function-level imports
included, since they are how a cycle hides), no private name imported from
another module, and test helpers only in tests/support."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fcslim"
TEMPLATES = {"loader_template.py", "hook_template.py"}  # written into bundles, not imported by fcslim


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the file, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            found.append((target, [n for n in names if f"{target}.{n}" not in modules]))
            found += [(m, []) for m in submodules]
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: {t for t, _ in _imports(name, path, modules) if t in modules and t not in (name, "fcslim")}
             for name, path in modules.items() if path.name not in TEMPLATES}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_private_names_across_modules():
    modules = _modules()
    offenders = [f"{name} imports {target}.{n}"
                 for name, path in modules.items()
                 for target, names in _imports(name, path, modules)
                 if target.startswith("fcslim") and target != name
                 for n in names if n.startswith("_") and not n.startswith("__")]
    assert not offenders, offenders


def test_test_helpers_live_in_tests_support():
    offenders = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.startswith("tests.test_") or (node.level and node.module.startswith("test_"))):
                offenders.append(f"{path.name} imports {node.module}")
    assert not offenders, offenders


def test_no_module_over_400_lines():
    """Small modules with one job each: a module past 400 lines is two jobs."""
    package = Path(__file__).resolve().parent.parent / "fcslim"
    long = {str(p.relative_to(package)): n for p in package.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
