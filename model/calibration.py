"""Framework overheads the kernel tables cannot see, fitted on the development split only.

The tables time kernels; a served step also pays the scheduler, sampling, detokenization and
launch gaps. `step_overhead_s` is added to every forward step and `kernel_scale` multiplies kernel
time (it absorbs, e.g., CUDA-graph vs eager differences). The numbers live in
model/catalog/calibration.yaml and are produced by `bench/calibrate.py`, which reads only
development-split rows of silicon_sample.csv (design.md, Contracts).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .framework import Backend

_FILE = Path(__file__).parent / "catalog" / "calibration.yaml"


@dataclass(frozen=True)
class Calibration:
    step_overhead_s: float = 0.0
    kernel_scale: float = 1.0
    ttft_scale: float = 1.0


@lru_cache(maxsize=None)
def calibration(backend: Backend | str) -> Calibration:
    if not _FILE.exists():
        return Calibration()
    import yaml

    data = yaml.safe_load(_FILE.read_text()) or {}
    return Calibration(**(data.get(Backend(backend).value) or {}))
