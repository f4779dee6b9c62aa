"""sloplan: plan LLM serving deployments with mathematical optimization.

    import sloplan
    result = sloplan.solve("instances/qwen3-32b-fp8-h200-trtllm.yaml")   # or a dict / sloplan.Request
    est = sloplan.estimate("Qwen/Qwen3-32B", "h100_sxm", "vllm", tp=2, concurrency=16, isl=4096, osl=512)
    dis = sloplan.estimate_disagg("Qwen/Qwen3-32B", "h200_sxm", prefill_tp=2, decode_tp=2, decode_batch=64,
                                  decode_workers=2, concurrency=128, isl=4000, osl=500)

Names are resolved lazily so that `sloplan --help` and the CLI start fast.
"""
from __future__ import annotations

__all__ = ["solve", "estimate", "estimate_disagg", "Request", "SolveResult", "Estimate", "InputError"]

_WHERE = {"solve": "api", "estimate": "estimation", "estimate_disagg": "estimate_disagg", "Request": "request",
          "SolveResult": "result", "Estimate": "result", "InputError": "errors"}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'sloplan' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"sloplan.{_WHERE[name]}"), name)
