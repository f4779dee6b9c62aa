"""Imports flow one way: core → perfdb → model → solver → generators → sloplan (design.md)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "perfdb", "model", "solver", "generators", "sloplan"]


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


# What a warm dense solve must not import: optional or heavy libraries it never runs (pyarrow reads
# Parquet only on a cold cache, matplotlib only for --plot, scipy/pandas/torch/aiconfigurator never),
# and the parts of sloplan that serve other commands or cold loads.
_NOT_ON_A_WARM_SOLVE = ("numpy.ma", "pyarrow", "scipy", "matplotlib", "pandas", "torch", "aiconfigurator",
                        "sloplan.plot", "sloplan.coverage_report", "sloplan.estimate_rows", "sloplan.estimation",
                        "sloplan.perfdb.collector", "sloplan.perfdb.validate", "sloplan.perfdb.bounds",
                        "sloplan.model.moe_memory", "sloplan.model.moe_ops",
                        "sloplan.model.mla_ops", *(f"sloplan.perfdb.{m}" for m in (
                            "comm", "deepep", "encoder", "linear_attention", "mhc", "mla", "moe", "quantize",
                            "sparse", "wideep")))
_PROBE = """
import contextlib, io, json, sys
sys.argv = ["sloplan", "solve", "instances/qwen3-32b-fp8-h200-trtllm.yaml"]
from sloplan.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print(json.dumps(sorted(sys.modules)))
"""


def _modules_of_a_warm_solve() -> set[str]:
    import json
    import subprocess
    import sys

    run = lambda: subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True,
                                 timeout=300)
    first = run()  # fills the perf-table cache if it is cold
    assert first.returncode == 0, first.stderr[-2000:]
    warm = run()
    assert warm.returncode == 0, warm.stderr[-2000:]
    return set(json.loads(warm.stdout.strip().splitlines()[-1]))


def test_a_warm_solve_imports_only_what_it_runs():
    mods = _modules_of_a_warm_solve()
    assert "sloplan.api" in mods and "highspy" in mods  # the probe did solve
    found = sorted(m for m in mods for name in _NOT_ON_A_WARM_SOLVE if m == name or m.startswith(name + "."))
    assert not found, f"a warm solve imported {found}"


def test_shipped_yaml_reads_through_libyaml_with_the_same_values():
    """The solve path reads its data files with libyaml (perfdb.catalog.load_yaml); values must equal
    the pure-Python safe loader's, file by file."""
    import yaml

    from sloplan.perfdb.catalog import _SAFE_LOADER, load_yaml

    if getattr(yaml, "__with_libyaml__", False):
        assert _SAFE_LOADER is yaml.CSafeLoader
    files = sorted((ROOT / "perfdb" / "systems").glob("*.yaml")) + sorted((ROOT / "model" / "catalog").glob("*.yaml"))
    assert len(files) > 10
    for path in files:
        text = path.read_text()
        assert repr(load_yaml(text)) == repr(yaml.load(text, Loader=yaml.SafeLoader)), path
