"""perfdb's modules import each other without cycles — top-level imports and function-level ones alike.

A function-level import that closes a cycle works at run time but hides that two modules know each other;
the graph below is built from every `import` statement in every perfdb module (parsed with `ast`, never
executed), so such a cycle fails here with its path printed.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "perfdb"
PACKAGE = "sloplan.perfdb"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """perfdb module → the perfdb modules it imports anywhere in its body."""
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                # `from . import cache` names a module; `from .cache import x` names a symbol of one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules:  # `import a.b.c` → the deepest perfdb module named
                    t = t.rpartition(".")[0]
                if t and t != mod and t.startswith(PACKAGE) and t != PACKAGE:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, …, a], or None (iterative DFS, colours white/grey/black)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
                path.append(nxt)
    return None


def test_graph_sees_function_level_imports():
    """The parser must see imports inside functions, or the test below proves nothing."""
    graph = import_graph()
    assert f"{PACKAGE}.loader" in graph and graph[f"{PACKAGE}.loader"], graph
    src = "def f():\n    from .grid import Grid\n"
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(ast.parse(src)))


def test_find_cycle_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_perfdb_imports_are_acyclic():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle among perfdb modules: " + " → ".join(c.rsplit(".", 1)[-1] for c in cycle)
