"""Coverage: every Parquet table the wheel ships for a system, and whether sloplan reads it.

Walks `systems/data/<system>/<family>/<framework>/<version>/*.parquet` and compares each table file name
with the families perfdb reads (READ_TABLES), so nothing shipped is skipped silently. The CLI prints
this list (`sloplan perfdb coverage --system X`); the signature of `coverage` is stable.
"""
from __future__ import annotations

from dataclasses import dataclass

from .catalog import load_system
from .source import system_data_dir
from .versions import sort_versions

# (family folder, table file) pairs some PerfDB method reads → that method.
READ_TABLES = {
    ("gemm", "gemm_perf.parquet"): "gemm",
    ("attention", "context_attention_perf.parquet"): "context_attention",
    ("attention", "generation_attention_perf.parquet"): "generation_attention",
    ("comm", "custom_allreduce_perf.parquet"): "all_reduce",
    ("comm", "nccl_perf.parquet"): "nccl / all_reduce",
    ("comm", "moe_a2a_perf.parquet"): "moe_a2a",
    ("comm", "trtllm_alltoall_perf.parquet"): "nvlink_a2a",
    ("moe", "moe_perf.parquet"): "moe",
    ("mla", "context_mla_perf.parquet"): "context_mla",
    ("mla", "generation_mla_perf.parquet"): "generation_mla",
    ("mla", "mla_context_module_perf.parquet"): "mla_module",
    ("mla", "mla_generation_module_perf.parquet"): "mla_module",
    ("mla_bmm", "mla_bmm_perf.parquet"): "mla_bmm",
    ("sparse_attention", "dsa_context_module_perf.parquet"): "dsa_module",
    ("sparse_attention", "dsa_generation_module_perf.parquet"): "dsa_module",
    ("sparse_attention", "glm5_dsa_attn_module_perf.parquet"): "glm5_kernel",
    ("sparse_attention", "glm5_mqa_logits_module_perf.parquet"): "glm5_kernel",
    ("sparse_attention", "glm5_topk_module_perf.parquet"): "glm5_kernel",
    ("linear_attention", "gdn_perf.parquet"): "gdn",
    ("linear_attention", "mamba2_perf.parquet"): "mamba2",
    ("quantize", "computescale_perf.parquet"): "quantize / gemm_fp8_static",
    ("quantize", "scale_matrix_perf.parquet"): "quantize / gemm_fp8_static",
    ("encoder_attention", "encoder_attention_perf.parquet"): "encoder_attention",
    ("mhc", "mhc_module_perf.parquet"): "mhc",
    ("moe", "wideep_moe_perf.parquet"): "wideep_moe",
    ("moe", "wideep_context_moe_perf.parquet"): "wideep_moe",
    ("moe", "wideep_generation_moe_perf.parquet"): "wideep_moe",
    ("mla", "wideep_context_mla_perf.parquet"): "wideep_mla",
    ("mla", "wideep_generation_mla_perf.parquet"): "wideep_mla",
    ("mlp", "wideep_context_mlp_perf.parquet"): "wideep_mlp",
    ("mlp", "wideep_generation_mlp_perf.parquet"): "wideep_mlp",
    ("comm", "wideep_deepep_ll_perf.parquet"): "deepep / moe_a2a",
    ("comm", "wideep_deepep_normal_perf.parquet"): "deepep / moe_a2a",
}


@dataclass(frozen=True)
class FamilyCoverage:
    """One shipped table kind on one system: where it lives and whether a PerfDB method reads it.

    `family` is the wheel's family folder (gemm, attention, comm, moe, mla, …), `table` the Parquet file
    name, `framework` trtllm / vllm / sglang / nccl, `versions` oldest → newest, `read_by` the PerfDB
    method that reads it ("" when none)."""

    family: str
    table: str
    framework: str
    versions: tuple[str, ...]
    read_by_sloplan: bool
    read_by: str = ""


def coverage(system: str) -> list[FamilyCoverage]:
    """Every (family, table, framework) the wheel ships for `system`, sorted; empty for a roofline-only
    system. Raises UnknownSystem for a name the catalog does not know."""
    root = system_data_dir(load_system(system).silicon_dir, system)
    if root is None:
        return []
    found: dict[tuple[str, str, str], list[str]] = {}
    for path in root.glob("*/*/*/*.parquet"):
        version, framework, family = path.parent.name, path.parent.parent.name, path.parent.parent.parent.name
        found.setdefault((family, path.name, framework), []).append(version)
    out = []
    for (family, table, framework), versions in sorted(found.items()):
        method = READ_TABLES.get((family, table), "")
        out.append(FamilyCoverage(family, table, framework, tuple(sort_versions(versions)), bool(method), method))
    return out
