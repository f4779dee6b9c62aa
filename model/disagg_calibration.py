"""Corrections of disaggregated workers, per framework (and system), fitted on the development split only.

The per-worker estimators (model/disagg_workers.py) are static batching split by phase, priced with
the aggregated calibration (model/calibration.py), frontend limit included, so a decode worker is the
aggregated decode step: no disaggregated constant touches TPOT. What the disaggregated runs of
silicon_sample.csv measure besides is on the TTFT side only, two numbers per framework:

* ttft_overhead_s is added to every request's TTFT before its prefill, occupying no GPU: the router
  (Dynamo's frontend, `trtllm-serve disaggregated`, the SGLang router) and the KV-transfer handshake,
  which an aggregated server does not have;
* prefill_scale multiplies a prefill worker's busy time (its passes' latency with it), fitted at 1 or
  above, never below: a prefill worker is never priced faster than the same engine's static prefill,
  so no plan goes disaggregated for this constant. Under a saturating load SGLang's prefill servers
  deliver about 0.35-0.55 of the throughput the kernel tables price while a lone prompt's TTFT is
  met (bench/disagg_ttft_probe.py), which a busy-time scale says and a fixed cost cannot (SGLang's
  fitted values, and its fixed cost without the scale, are in the README). Left free, the scale fitted below 1
  for TRT-LLM and vLLM for a reason of the loss, not of the hardware (bench/calibrate_disagg.py:
  fit_one), and turned bundled plans disaggregated.

A decode-step scale per layout (decode_scale, decode_scale_dp) was fitted here before; it made a
disaggregated decode worker up to 30 % faster than the same engine's aggregated decode, so plans
went disaggregated for that alone, and is gone, as is the scale below 1.

They live in model/catalog/calibration_disagg.yaml, written by bench/calibrate_disagg.py from
development-split rows (with its 5-fold cross-validated figures beside the in-sample ones). A system
without its own entry takes its framework's; a framework without one, no correction.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_FILE = Path(__file__).parent / "catalog" / "calibration_disagg.yaml"


@dataclass(frozen=True)
class DisaggCorrection:
    """What one framework's disaggregated workers need on top of the per-worker estimators. A scale below 1
    or a negative cost is refused where it is made (module docstring: neither may make a worker cheaper
    than the same engine aggregated)."""

    prefill_scale: float = 1.0
    ttft_overhead_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.prefill_scale >= 1.0:
            raise ValueError(f"prefill_scale: {self.prefill_scale} is below 1; accepted: a number >= 1")
        if not self.ttft_overhead_s >= 0.0:
            raise ValueError(f"ttft_overhead_s: {self.ttft_overhead_s} is negative; accepted: seconds >= 0")


IDENTITY = DisaggCorrection()


@lru_cache(maxsize=1)
def _table() -> dict:
    if not _FILE.exists():
        return {}
    from sloplan.perfdb.yaml_cache import load_yaml_file

    return load_yaml_file(_FILE) or {}


def correction(backend: str, system: str) -> DisaggCorrection:
    """The fitted correction for `backend` on `system` (its framework's default without its own)."""
    entry = _table().get(getattr(backend, "value", backend), {})
    values = entry.get("systems", {}).get(system) or entry.get("default") or {}
    return DisaggCorrection(**{k: float(v) for k, v in values.items() if k in DisaggCorrection.__dataclass_fields__})
