"""The one dtype table (core/dtypes.py): perfdb's per-family maps, the FLOP-rate keys, the siblings and the
model's memory bytes are all read from it, and the maps it replaced are reproduced exactly."""
import ast
from pathlib import Path

from sloplan.core import dtypes as dt
from sloplan.core.enums import GemmQuant, KvDtype
from sloplan.perfdb import fallback, sol
from sloplan.perfdb.dtypes import DTYPE_ALIASES, canon_dtype
from sloplan.perfdb.perfdb import KV_DTYPES
from sloplan.perfdb.catalog import load_system

ROOT = Path(__file__).resolve().parents[1]


def test_the_speed_of_light_maps_are_the_old_ones_with_block_scales_counted():
    # The literal maps perfdb/sol.py held before the table: every entry they had is reproduced, except that
    # fp8_block and mxfp4 now count their block scales (one byte count per dtype, core/dtypes.py), and an
    # entry they lacked still reads as the callers' 2.0 default.
    fp8_block, mxfp4 = 1 + 4 / 128**2, 0.5 + 1 / 32
    old = {"GEMM_BYTES": {"bf16": 2.0, "fp8": 1.0, "fp8_block": fp8_block, "nvfp4": 9 / 16},
           "KV_BYTES": {"bf16": 2.0, "fp8": 1.0},
           "NCCL_BYTES": {"half": 2.0, "bf16": 2.0, "int8": 1.0},
           "COMM_BYTES": {"bf16": 2.0, "fp8": 1.0, "nvfp4": 9 / 16},
           "MOE_BYTES": {"bf16": 2.0, "fp8": 1.0, "fp8_block": fp8_block, "nvfp4": 9 / 16, "w4a16_mxfp4": mxfp4,
                         "int4_wo": 0.5, "w4afp8": 0.5}}
    for name, table in old.items():
        new = getattr(sol, name)
        for spelling in set(new) | set(table) | set(DTYPE_ALIASES):
            assert new.get(spelling, 2.0) == table.get(spelling, 2.0), (name, spelling)


def test_storage_bytes_count_block_scales_and_are_what_the_speed_of_light_counts():
    assert GemmQuant.FP8_BLOCK.weight_bytes == 1.0 + 4.0 / 128**2 == dt.BY_NAME["fp8_block"].storage_bytes
    assert GemmQuant.NVFP4.weight_bytes == 9 / 16 and GemmQuant.BF16.weight_bytes == 2.0
    assert KvDtype.FP8.bytes == 1.0 and KvDtype.BF16.bytes == 2.0
    assert sol.GEMM_BYTES["fp8_block"] == GemmQuant.FP8_BLOCK.weight_bytes == sol.MOE_BYTES["fp8_block"]
    for kernel in dt.Kernel:  # one byte count: every SOL map is the storage column
        assert all(v == dt.lookup(s).storage_bytes for s, v in dt.sol_kernels(kernel).items()), kernel


def test_flop_rate_keys_match_the_old_system_spec_map():
    old = {"bf16": "bf16", "bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "fp4", "fp4": "fp4",
           "int8": "int8"}
    for name in set(old) | set(DTYPE_ALIASES) | {"no_such_dtype"}:
        assert dt.flops_key(name) == old.get(name, {"w4afp8": "fp8"}.get(name, "bf16")), name
    assert {g.compute_dtype for g in GemmQuant} <= set(dt.FLOPS_KEYS)
    h100 = load_system("h100_sxm")
    assert h100.compute_flops_per_s("fp8_block") == h100.flops_per_s["fp8"]
    assert h100.compute_flops_per_s("nvfp4") == h100.flops_per_s["bf16"]  # no fp4 rate: bf16 (weight-only style)
    assert not fallback.hardware_has(h100, "nvfp4") and fallback.hardware_has(h100, "fp8_block")
    assert fallback.hardware_has(h100, "bf16") and fallback.hardware_has(h100, "half")


def test_siblings_aliases_and_kv_names_are_the_tables():
    assert fallback.DTYPE_SIBLINGS == {
        "nvfp4": ("fp8_block", "fp8", "bf16"), "fp8_block": ("fp8", "bf16"), "fp8": ("fp8_block", "bf16"),
        "bf16": ("fp8", "fp8_block"), "int8": ("fp8", "bf16")}
    for d in dt.DTYPES:
        assert all(s in dt.BY_NAME and s != d.name for s in d.siblings), d.name
    assert canon_dtype("BFloat16") == canon_dtype("default") == "bf16" and canon_dtype("FP8_Block") == "fp8_block"
    assert canon_dtype("mxfp8") == "mxfp8"  # unknown spellings pass through, lower-cased
    assert {KV_DTYPES.get(s, "bf16") for s in ("bf16", "bfloat16", "fp16", "fp8_block", "nvfp4")} == {"bf16"}
    assert KV_DTYPES["fp8"] == "fp8" and {k.value for k in KvDtype} == {
        d.name for d in dt.DTYPES if dt.Kernel.KV in d.kernels}
    assert {g.value for g in GemmQuant} <= {d.name for d in dt.DTYPES if dt.Kernel.GEMM in d.kernels}


def _byte_maps(tree: ast.AST) -> list[int]:
    """Lines of dict displays mapping two or more dtype names to numbers (a dtype byte map written again)."""
    names = set(DTYPE_ALIASES)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and len(node.keys) >= 2:
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            nums = [v for v in node.values if isinstance(v, ast.BinOp) or (
                isinstance(v, ast.Constant) and isinstance(v.value, (int, float)))]
            if len(keys) == len(node.keys) >= 2 and set(keys) <= names and len(nums) == len(keys):
                lines.append(node.lineno)
    return lines


def test_no_dtype_byte_map_outside_the_table():
    assert _byte_maps(ast.parse('X = {"bf16": 2.0, "fp8": 1.0}\nY = {"bf16": "a", "zz": 1}')) == [1]
    offenders = [f"{p.relative_to(ROOT)}:{line}" for pkg in ("core", "perfdb", "model", "solver", "sloplan")
                 for p in sorted((ROOT / pkg).rglob("*.py")) if p.name != "dtypes.py"
                 for line in _byte_maps(ast.parse(p.read_text()))]
    assert not offenders, offenders


def test_weight_formats_read_the_table():
    """A checkpoint's storage formats weigh what the dtype table says (one definition), the INT4 group
    scales being the one addition; the MoE kernels they select are the table's rows."""
    from sloplan.model.weight_format import WeightFormat

    for f in WeightFormat:
        assert f.dtype in dt.BY_NAME, f
        if f.gemm is not None:
            assert f.weight_bytes == f.gemm.weight_bytes == dt.BY_NAME[f.value].storage_bytes, f
    assert WeightFormat.MXFP4.weight_bytes == 17 / 32 and WeightFormat.MXFP4.dtype == "w4a16_mxfp4"
    assert WeightFormat.INT4_WO.weight_bytes == 0.5 + 2 / 32 > dt.BY_NAME["int4_wo"].storage_bytes
