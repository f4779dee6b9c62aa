"""SystemSpec: the hardware figures a speed-of-light estimate needs, in SI units."""
from __future__ import annotations

from dataclasses import dataclass, field

from sloplan.core.dtypes import flops_key
from sloplan.core.enums import BACKEND_NAMES


@dataclass(frozen=True)
class SystemSpec:
    """One GPU system (GPU + node fabric). Loaded from perfdb/systems/<name>.yaml.

    `flops_per_s` lists dense tensor-core FLOP/s per dtype ("bf16", "fp8", "fp4", "int8"); a missing key
    means the GPU has no tensor-core support for it. `silicon_dir` names the folder of measured tables in
    the aiconfigurator-core wheel (None: roofline only). `sm_version` picks the framework's default
    attention kernel lane; `efficiency_donor` names the system whose measured efficiencies scale the
    roofline of a system without silicon data; `frameworks` are the serving frameworks that run on it
    (TensorRT-LLM has no ROCm build). Not in the repr, so it does not change the disk-cache key.
    `table_donors`: (backend, table file, donor system) for each table this system's collection timed with a
    cost the serving step does not pay (perfdb/mla.py), or did not collect though it runs the donor's kernel
    (GB300's TensorRT-LLM NVLink all-to-all from GB200's, perfdb/nvlink_a2a.py); read from the donor's
    folder, util through this system's SOL, tier EXTRAPOLATED at best. In the repr: which table is read is
    part of the cache key.
    `lane_donors`: (backend, table file, dtype, donor backend, donor version) for each kernel this system
    runs on `backend` at shapes the backend's own collection did not time but another framework's table on
    the same GPU did (the same library kernel); those rows join the table, tier EXTRAPOLATED at best
    (perfdb/moe.py). In the repr.
    `kernel_donors`: (backend, table file, dtype, kernel lane, donor backend, donor version, donor
    kernel_source) for each kernel lane (perfdb/moe.py KERNEL_LANES: "trtllm_gen") this system runs on
    `backend` in a dtype the backend's own collection never timed on that lane, while another framework's
    table on the same GPU timed the same library kernel; those rows become the lane, tier EXTRAPOLATED at
    best. In the repr.
    `nvlink_domain_gpus`: GPUs one NVLink domain joins when it spans several nodes (GB200/GB300 NVL72: 72),
    None where NVLink stops at the node (or the GPUs have none). Equal inter- and intra-node bandwidths do not
    say it: an L40S server's PCIe is slower than its NIC.
    """

    name: str
    gpu_name: str
    mem_capacity_bytes: float
    mem_bw_bytes_per_s: float
    flops_per_s: dict[str, float]
    gpus_per_node: int
    intra_node_bw_bytes_per_s: float
    inter_node_bw_bytes_per_s: float
    p2p_latency_s: float
    silicon_dir: str | None
    sm_version: int | None = None
    efficiency_donor: str | None = field(default=None, compare=False)
    frameworks: tuple[str, ...] = field(default=BACKEND_NAMES, compare=False, repr=False)
    table_donors: tuple[tuple[str, str, str], ...] = field(default=(), compare=False)
    lane_donors: tuple[tuple[str, str, str, str, str], ...] = field(default=(), compare=False)
    kernel_donors: tuple[tuple[str, str, str, str, str, str, str], ...] = field(default=(), compare=False)
    nvlink_domain_gpus: int | None = field(default=None, compare=False, repr=False)

    @property
    def nvlink_rack(self) -> bool:
        """Whether NVLink joins GPUs across nodes (the rack is one fabric): TP may span trays, and TRT-LLM's
        attention-DP MoE runs its NVLink all-to-all there."""
        return (self.nvlink_domain_gpus or 0) > self.gpus_per_node

    def table_donor(self, backend: str, table: str) -> str | None:
        """The system whose `table` (a file name) prices this one's on `backend`, or None (its own)."""
        return next((d for b, t, d in self.table_donors if (b, t) == (backend, table)), None)

    def lane_donors_for(self, backend: str, table: str) -> list[tuple[str, str, str]]:
        """(dtype, donor backend, its version) of every kernel whose rows `table` on `backend` takes from
        another framework's table."""
        return [(dt, d, v) for b, t, dt, d, v in self.lane_donors if (b, t) == (backend, table)]

    def kernel_donors_for(self, backend: str, table: str) -> list[tuple[str, str, str, str, str]]:
        """(dtype, kernel lane, donor backend, its version, the donor's kernel_source) of every kernel lane
        whose rows `table` on `backend` takes from another framework's table."""
        return [tuple(d[2:]) for d in self.kernel_donors if d[:2] == (backend, table)]

    def __hash__(self) -> int:  # dict field makes the generated hash fail; the name identifies a system
        return hash(self.name)

    def compute_flops_per_s(self, dtype: str) -> float:
        """Tensor-core rate for a GEMM/attention dtype; an unsupported dtype computes at bf16 (weight-only style)."""
        return float(self.flops_per_s.get(flops_key(dtype), self.flops_per_s["bf16"]))
