"""sloplan.perfdb.collector — measure GEMM / attention / NCCL on the local NVIDIA GPU with PyTorch and write
tables in aiconfigurator-core's schema and folder layout, so perfdb can overlay them on the shipped data.

Importing this package never imports torch; only `run_collect` does (torch is an optional dependency).
"""
from .grid import AttentionCase, GemmCase, NcclCase
from .probe import TORCH_MISSING, CollectorUnavailable, DeviceInfo
from .rows import Measured
from .run import (DTYPES, OPS, CollectOptionError, CollectRequest, CollectSummary, check_system_name, collect,
                  parse_list, run_collect)
from .timing import FULL_TIMING, QUICK_TIMING, TimingConfig

__all__ = ["AttentionCase", "GemmCase", "NcclCase", "CollectorUnavailable", "DeviceInfo", "TORCH_MISSING",
           "Measured", "DTYPES", "OPS", "CollectOptionError", "CollectRequest", "CollectSummary",
           "check_system_name", "collect", "parse_list", "run_collect", "FULL_TIMING", "QUICK_TIMING",
           "TimingConfig"]
