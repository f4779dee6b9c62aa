"""The typed core (issue 11, bullet 1): each closed set is one enum in one module, and the backend set is
spelled once — sloplan.core.enums — with every other layer reading it from there."""
import ast
import pickle
from pathlib import Path

from sloplan.core import dtypes as dtype_table
from sloplan.core import enums as core

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "perfdb", "model", "solver", "generators", "sloplan")
BACKEND_VALUES = {b.value for b in core.Backend}
PHASE_WORDS = {p.value for p in core.Phase} | {p.short for p in core.Phase}
# Dtype names as perf tables and users spell them ("default" and "half" are left out: ordinary words too).
DTYPE_WORDS = {d.name for d in dtype_table.DTYPES} | {"bfloat16", "float16", "fp16", "fp4"}
# Modules that read strings from files or users and turn them into members: literals are their job. The
# collector (perfdb/collector/) writes the perf tables on a GPU machine: its dtype strings are torch's and
# the tables' own.
EDGE_PREFIXES = ("core/", "perfdb/collector/")
EDGE_MODULES = {"sloplan/request.py", "sloplan/fields.py", "sloplan/safe_yaml.py", "sloplan/estimate_rows.py",
                "perfdb/source.py", "perfdb/validate.py", "model/hf_config.py"}


def _modules():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text())


def _is_enum_class(node: ast.ClassDef) -> bool:
    names = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases]
    return any(n.endswith("Enum") for n in names)


def _enum_definitions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and _is_enum_class(node):
                found.setdefault(node.name, []).append(rel)
    return found


def test_every_enum_is_defined_in_exactly_one_module():
    found = _enum_definitions()
    twice = {name: where for name, where in found.items() if len(where) > 1}
    assert not twice, twice
    assert len(found) >= 10  # the scan sees the enums (it would pass vacuously on a broken walk)


def test_the_closed_sets_live_in_core():
    found = _enum_definitions()
    for name in ("Backend", "GemmQuant", "KvDtype", "Phase", "Role", "ServingMode", "SloKind", "Tier",
                 "ConstraintGroup", "Parallelism", "Setting", "KvFractionOf"):
        assert found.get(name) == ["core/enums.py"], (name, found.get(name))
    assert found.get("Kernel") == ["core/dtypes.py"]


def test_framework_enums_are_re_exported_from_their_old_home():
    # Setting is read by generators/launch.py, KvFractionOf by model/memory.py: closed sets used beyond
    # framework.py; Parallelism names the Settings a framework must have flags for.
    from sloplan.model import framework as fw
    assert (fw.Setting, fw.Parallelism, fw.KvFractionOf) == (core.Setting, core.Parallelism, core.KvFractionOf)
    assert {p.value for p in core.Parallelism} <= {s.value for s in core.Setting}


def test_the_old_homes_re_export_the_same_class_objects():
    from sloplan.model.framework import Backend
    from sloplan.model.option_table import Role, ServingMode
    from sloplan.model.quant import GemmQuant, KvDtype
    from sloplan.perfdb.tier import Tier
    from sloplan.solver.groups import ConstraintGroup
    from sloplan.solver.slo import SloKind
    assert (Backend, GemmQuant, KvDtype, Role, ServingMode, Tier, SloKind, ConstraintGroup) == (
        core.Backend, core.GemmQuant, core.KvDtype, core.Role, core.ServingMode, core.Tier, core.SloKind,
        core.ConstraintGroup)
    assert Backend("vllm") is Backend.VLLM and Backend.VLLM == "vllm"
    assert pickle.loads(pickle.dumps(Tier.ROOFLINE)) is Tier.ROOFLINE and Tier.ROOFLINE.label == "roofline"
    assert SloKind.TTFT.group is ConstraintGroup.SLO_TTFT and SloKind.TPOT.field == "tpot_s"
    assert GemmQuant.FP8_BLOCK.weight_bytes == 1.0 + 4.0 / 128**2 and GemmQuant.NVFP4.compute_dtype == "fp4"


def test_phase_reads_both_spellings():
    assert core.Phase.parse("ctx") is core.Phase.parse("context") is core.Phase.CONTEXT
    assert core.Phase.parse("gen") is core.Phase.GENERATION and core.Phase.GENERATION.short == "gen"
    try:
        core.Phase.parse("decode")
    except ValueError as exc:
        assert "decode" in str(exc)
    else:
        raise AssertionError("an unknown phase was accepted")


def _backend_literal_sets(tree: ast.AST) -> list[int]:
    """Lines of tuple/list/set displays of two or more strings that are all backend names."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2:
            values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(values) == len(node.elts) and set(values) <= BACKEND_VALUES:
                lines.append(node.lineno)
    return lines


def test_the_backend_set_is_spelled_only_in_core():
    offenders = [f"{rel}:{line}" for rel, tree in _modules() if not rel.startswith("core/")
                 for line in _backend_literal_sets(tree)]
    assert not offenders, offenders
    assert core.BACKEND_NAMES == ("trtllm", "vllm", "sglang")


def test_the_scan_catches_a_spelled_out_backend_set():
    assert _backend_literal_sets(ast.parse('B = ("vllm", "trtllm")\nx = ["vllm", "nvfp4"]')) == [1]


def _literal_words(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def _string_dispatch(tree: ast.AST) -> list[int]:
    """Lines comparing (==, !=, in, not in) against a backend, phase or dtype name written as a string."""
    closed = BACKEND_VALUES | PHASE_WORDS | DTYPE_WORDS
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(_literal_words(n) & closed for n in (node.left, *node.comparators)):
            lines.append(node.lineno)
    return lines


def _is_edge(rel: str) -> bool:
    return rel in EDGE_MODULES or rel.startswith(EDGE_PREFIXES) or Path(rel).name.startswith("cli")


def test_backends_and_phases_are_compared_as_members_outside_the_edges():
    offenders = [f"{rel}:{line}" for rel, tree in _modules() if not _is_edge(rel) for line in _string_dispatch(tree)]
    assert not offenders, offenders


def test_the_scan_catches_a_string_comparison():
    src = ('if backend == "vllm": pass\nif phase in ("ctx", "x"): pass\nif kind == "dsa_ctx": pass\n'
           'if kv == "fp8": pass\nif d in ("fp8_block", "int8"): pass\nif dt == "mxfp8": pass')
    assert _string_dispatch(ast.parse(src)) == [1, 2, 4, 5]


def _phase_keyed_dicts(tree: ast.AST) -> list[int]:
    """Lines of dict displays keyed by phase names written as strings: a map over the phases is keyed by
    Phase. Maps to file names (the Parquet tables' names, file-facing) and maps that only include a phase's
    grid family among others (DEFAULT_EFF's "gemm", "ctx", "ar") are not maps over phases."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and node.keys:
            keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
            files = all(isinstance(v, ast.Constant) and str(v.value).endswith(".parquet") for v in node.values)
            if set(keys) <= PHASE_WORDS and not files:
                lines.append(node.lineno)
    return lines


def test_maps_over_phases_are_keyed_by_phase_outside_the_edges():
    offenders = [f"{rel}:{line}" for rel, tree in _modules() if not _is_edge(rel)
                 for line in _phase_keyed_dicts(tree)]
    assert not offenders, offenders
    src = ('A = {"context": "dsa_ctx", "generation": "dsa_gen"}\nB = {"ctx": "x.parquet", "gen": "y.parquet"}\n'
           'C = {"gemm": 0.5, "ctx": 0.3}\nD = {Phase.CONTEXT: 1}')
    assert _phase_keyed_dicts(ast.parse(src)) == [1]
