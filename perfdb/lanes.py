"""Kernel lanes: when one table holds several `kernel_source` values for the same keys, pick the one the
framework runs by default, so latencies describe an out-of-the-box deployment.

Rules (documented in README.md):
* attention — the wheel's `systems/attention_lane_defaults.yaml` pin for (framework, version, SM) when it
  names a lane (sglang 0.5.14: fa3 on SM90, triton on SM100/103, flashinfer on SM120); otherwise a static
  preference: TRT-LLM `torch_flow`; vLLM FA3 on Hopper, FlashInfer(-TRT-LLM) on Blackwell, FlashAttention
  on Ampere/Ada; then the lane with the most rows.
* GEMM — the lane with the most rows per dtype (vLLM fp8_block → DeepGEMM, the default on Hopper/Blackwell).
* custom all-reduce — the CUDA-graph lane when present (serving runs decode under CUDA graphs).
"""
from __future__ import annotations

import functools

import numpy as np

from sloplan.core.enums import Backend, Phase

from .wheel import wheel_dir
from .versions import pick_nearest
from .catalog import load_yaml

_VLLM_CTX = {90: ["fa3"], 100: ["trtllmprefill", "flashinfer"], 103: ["trtllmprefill", "flashinfer"],
             120: ["flashinfer"], 89: ["flash_attn", "fa2"], 80: ["flash_attn", "fa2"]}
_VLLM_GEN = {90: ["fa3"], 100: ["trtllmdecode", "flashinfer"], 103: ["trtllmdecode", "flashinfer"],
             120: ["flashinfer"], 89: ["flash_attn", "fa2"], 80: ["flash_attn", "fa2"]}


def pick_lane(sources: np.ndarray, preferred: list[str]) -> str:
    """First preferred token (substring, case-insensitive) that matches a lane; ties and no match → most rows."""
    names, counts = np.unique(sources, return_counts=True)
    by_rows = sorted(zip(counts.tolist(), names.tolist()), key=lambda t: (-t[0], t[1]))
    for token in preferred:
        hits = [name for _, name in by_rows if token.lower() == name.lower()]
        hits = hits or [name for _, name in by_rows if token.lower() in name.lower()]
        if hits:
            return hits[0]
    return by_rows[0][1]


@functools.lru_cache(maxsize=1)
def _lane_defaults() -> dict:
    path = wheel_dir() / "systems" / "attention_lane_defaults.yaml"
    try:
        return load_yaml(path.read_text()) or {}
    except OSError:
        return {}


def attention_preference(backend: str, version: str, sm: int | None, phase: str) -> list[str]:
    """Ordered lane tokens for context ("ctx") or generation ("gen") attention."""
    tokens: list[str] = []
    pins = _lane_defaults().get(backend) or {}
    if pins and sm is not None:
        ver = pick_nearest([str(v) for v in pins], version)
        pin = (pins.get(ver) or {}).get(sm)
        if pin and pin != "default":
            tokens.append(str(pin))
    if backend == Backend.TRTLLM:
        tokens.append("torch_flow")
    elif backend == Backend.VLLM:
        tokens += (_VLLM_CTX if phase == Phase.CONTEXT.short else _VLLM_GEN).get(sm or 90, [])
    return tokens
