"""The PyTorch measuring backend: builds each case on GPU 0, times it, frees it; OOM skips one case only.

`run.collect` talks to any object with this shape (`device`, `gemm`, `attention`, `nccl`), so the whole
pipeline after the timer — rows, schema, files, metadata — is tested on the CPU with a fake backend.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from . import nccl as nccl_mod
from .grid import AttentionCase, GemmCase, NcclCase
from .kernels import attention_call, gemm_call
from .probe import DeviceInfo
from .rows import Measured
from .timing import TimingConfig, measure_s

OOM = "out of memory"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


@dataclass
class TorchBackend:
    torch: object
    device: DeviceInfo
    timing: TimingConfig

    def _time(self, build) -> Measured:
        torch = self.torch
        try:
            built = build()
            seconds = measure_s(built.fn, self.timing)
            return Measured(seconds, built.kernel_source)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            return Measured(None, "", OOM)
        except (RuntimeError, ValueError, TypeError) as exc:  # unsupported shape/dtype for this kernel
            torch.cuda.synchronize()
            return Measured(None, "", _first_line(exc))

    def gemm(self, case: GemmCase) -> Measured:
        return self._time(lambda: gemm_call(self.torch, case))

    def attention(self, case: AttentionCase) -> Measured:
        """Native GQA first; if no fast SDPA kernel accepts it, KV heads expanded (marked in kernel_source)."""
        got = self._time(lambda: attention_call(self.torch, case))
        if got.latency_s is None and got.reason != OOM and case.kv_heads != case.heads:
            got = self._time(lambda: attention_call(self.torch, case, expand_kv=True))
        return got

    def nccl(self, cases: tuple[NcclCase, ...]) -> list[Measured]:
        """One process group per GPU count; results in the order of `cases`."""
        groups: dict[int, list[int]] = defaultdict(list)
        for i, case in enumerate(cases):
            groups[case.num_gpus].append(i)
        out: list[Measured | None] = [None] * len(cases)
        for idx in groups.values():
            for i, m in zip(idx, nccl_mod.measure_group([cases[i] for i in idx], self.timing)):
                out[i] = m
        return out
