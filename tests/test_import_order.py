"""Imports flow one way: perfdb → model → solver → generators → sloplan (design.md)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["perfdb", "model", "solver", "generators", "sloplan"]


def _imported_layers(path: Path, layer: str) -> set[str]:
    """Layers a module imports, from absolute `sloplan.<layer>` imports (relative ones stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sloplan":
                found.add(parts[1] if len(parts) > 1 and parts[1] in LAYERS else "sloplan")
            elif parts[0] in LAYERS[:-1]:
                raise AssertionError(f"{path}: imports top-level '{parts[0]}'; use sloplan.{parts[0]}")
    return found


def test_layers_only_import_downstream_of_themselves():
    offenders = []
    for rank, layer in enumerate(LAYERS):
        for path in (ROOT / layer).rglob("*.py"):
            for other in _imported_layers(path, layer):
                if other != layer and LAYERS.index(other) > rank:
                    offenders.append(f"{path.relative_to(ROOT)} ({layer}) imports {other}")
    assert not offenders, "\n".join(offenders)


def test_the_checker_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sloplan.solver import pareto_front\n")
    assert "solver" in _imported_layers(bad, "model")
