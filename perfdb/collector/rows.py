"""Measured cases → table rows (dicts keyed by column). Seconds in, milliseconds out (the tables' unit)."""
from __future__ import annotations

from dataclasses import dataclass

from sloplan.core.enums import Phase

from .grid import AttentionCase, GemmCase, NcclCase
from .schema import FRAMEWORK

MS_PER_S = 1e3


@dataclass(frozen=True)
class Measured:
    """One case's median latency in seconds, or None with the reason it was skipped (OOM, unsupported)."""
    latency_s: float | None
    kernel_source: str
    reason: str = ""


def _head(version: str, device: str, op_name: str, kernel_source: str, framework: str = FRAMEWORK) -> dict:
    return {"framework": framework, "version": version, "device": device, "op_name": op_name,
            "kernel_source": kernel_source}


def gemm_row(case: GemmCase, m: Measured, version: str, device: str) -> dict:
    return {**_head(version, device, "gemm", m.kernel_source), "gemm_dtype": case.dtype, "m": case.m,
            "n": case.n, "k": case.k, "latency": m.latency_s * MS_PER_S}


def attention_row(case: AttentionCase, m: Measured, version: str, device: str) -> dict:
    """Context: isl = new tokens, step 0. Generation: isl 1, step = cached tokens = kv_len − 1 (wheel §2.2)."""
    context = case.phase == Phase.CONTEXT
    return {**_head(version, device, f"{case.phase}_attention", m.kernel_source), "batch_size": case.batch,
            "isl": case.seq if context else 1, "num_heads": case.heads, "num_key_value_heads": case.kv_heads,
            "head_dim": case.head_dim, "beam_width": 1, "attn_dtype": "bfloat16", "kv_cache_dtype": "bfloat16",
            "step": 0 if context else case.seq - 1, "window_size": 0, "latency": m.latency_s * MS_PER_S}


def nccl_row(case: NcclCase, m: Measured, nccl_version: str, device: str) -> dict:
    return {**_head(nccl_version, device, case.op, m.kernel_source), "nccl_dtype": case.dtype,
            "num_gpus": case.num_gpus, "message_size": case.message_size, "latency": m.latency_s * MS_PER_S}
