"""Corrections of disaggregated workers, per framework and system, fitted on the development split only.

The per-worker estimators (model/disagg_workers.py) are static batching split by phase, priced with
the aggregated calibration (model/calibration.py). What the disaggregated runs of silicon_sample.csv
measure besides — a deployment's router and KV handshake before the first token, decode workers run
with recipes the aggregated rows do not show (wide expert parallelism, speculative decoding in the
published recipes), prefill workers packing prompts differently — is three numbers per framework and
system, each a correction the data asks for, not a model of its own:

* decode_scale multiplies a decode worker's step time (TPOT and the first decode step), and
  decode_scale_dp that of a decode worker with attention data parallelism (wide expert parallelism:
  the sample's two decode layouts, whose residuals differ in sign on the same systems);
* prefill_scale multiplies a prefill worker's busy time (hence its rate and a request's prefill);
* ttft_overhead_s is added to every request's TTFT before its prefill, occupying no GPU.

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
    """What one framework's disaggregated workers need on top of the per-worker estimators."""

    decode_scale: float = 1.0
    decode_scale_dp: float = 1.0
    prefill_scale: float = 1.0
    ttft_overhead_s: float = 0.0


    def decode_for(self, dp: int) -> float:
        """The decode step's scale for a decode worker of `dp` attention-DP ranks."""
        return self.decode_scale_dp if dp > 1 else self.decode_scale


IDENTITY = DisaggCorrection()


@lru_cache(maxsize=1)
def _table() -> dict:
    if not _FILE.exists():
        return {}
    from sloplan.perfdb.catalog import load_yaml

    return load_yaml(_FILE.read_text()) or {}


def correction(backend: str, system: str) -> DisaggCorrection:
    """The fitted correction for `backend` on `system` (its framework's default without its own)."""
    entry = _table().get(getattr(backend, "value", backend), {})
    values = entry.get("systems", {}).get(system) or entry.get("default") or {}
    return DisaggCorrection(**{k: float(v) for k, v in values.items() if k in DisaggCorrection.__dataclass_fields__})
