"""The package's imports are one-way: no module imports, even lazily, one that imports it back.

An import of a package counts as an import of its `__init__.py`; `from pkg import name` counts as
an import of `pkg/name.py` when that file exists. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sglang_hyperaccel"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Each package module -> the package modules it imports (anywhere in its body)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        graph[mod] = {r for t in targets if (r := _resolve(t, mods)) and r != mod}
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False


def test_no_import_cycle():
    """No module of sglang_hyperaccel reaches itself through its imports."""
    graph = import_graph()
    cycles = sorted(mod for mod, deps in graph.items() if any(_reaches(graph, d, mod) for d in deps))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_simulator_imports_nothing_else_of_the_package():
    """The simulator is given its inputs: it imports no module outside sglang_hyperaccel.simulator."""
    graph = import_graph()
    outside = {(m, d) for m, deps in graph.items() if m.startswith("sglang_hyperaccel.simulator")
               for d in deps if not d.startswith("sglang_hyperaccel.simulator")}
    assert not outside


def test_the_checker_sees_a_cycle():
    """The graph walk finds a cycle when there is one (the test above can fail)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _reaches(graph, "b", "a") and not _reaches(graph, "a", "d")
