"""Bytes per GPU of the DeepEP buffer a wide-EP engine allocates (SGLang `--moe-a2a-backend deepep`).

SGLang creates one DeepEP `Buffer` per process (token_dispatcher/deepep.py, `DeepEPBuffer.get_deepep_buffer`)
with `--deepep-mode auto` by default, which enables both kernel families, so it sizes
* the NVLink buffer by the normal kernels' hint, the larger of DeepEP's dispatch and combine configs
  (`Buffer.get_dispatch_config` / `get_combine_config` for the group size; `Config::
  get_nvl_buffer_size_hint`, csrc/config.hpp): per channel (num_sms / 2) and NVLink rank, a signal
  block of (2 x RDMA ranks + 3) ints and, per receive-chunk token, the hidden bytes, the 8-byte source
  meta, 128 top-k indices (int64) and weights (float) and 128 scales (float);
* the RDMA buffer as the larger of the normal kernels' RDMA hint (groups beyond one node: per channel
  and RDMA rank, (2 x 8 + 2) x 2 ints of signals, and per receive-chunk token twice the same token
  record plus an int4, with 1 MiB added) and the low-latency hint (`get_low_latency_rdma_size_hint`,
  `LowLatencyLayout`): two send and two receive buffers of `num_experts x T` messages (T the
  low-latency tokens per rank, SGLang's `SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK`, 128), a
  dispatch message 16 + max(2 h, h + 4 h / 128) bytes and a combine message 4 h / 128 + 2 h bytes (the
  send buffers: the larger of T dispatch and num_experts x T combine messages), plus two signalling
  blocks of num_experts ints, each aligned to 128 bytes;
plus DeepEP's workspace. The sizes (num_sms, the chunk tables, T) are data: model/frameworks/sglang.yaml,
capabilities.wide_ep.buffers. DeepSeek-V3 at EP 16 over two 8-GPU nodes: 0.35 GiB NVLink + 1.78 GiB
RDMA (the low-latency layout) + 32 MiB = 2.16 GiB per GPU.
"""
from __future__ import annotations

import math

from .wide_ep import DeepEpBuffers

_TOPK_SLOTS = 128  # kNumMaxTopK: the hint reserves this many top-k entries per token
_SCALE_SLOTS = 128  # kNumMaxScales
_SOURCE_META = 8  # sizeof(SourceMeta): two ints
_INT4 = 16
_ALIGN = 128  # NUM_BUFFER_ALIGNMENT_BYTES
_RDMA_SAFETY = 1 << 20  # "add a large number to be safe" in get_rdma_buffer_size_hint


def _align(n: int, to: int = _ALIGN) -> int:
    return -(-n // to) * to


def _token_record(hidden_bytes: int) -> int:
    """Bytes one token takes in a normal-kernel receive chunk (hidden, source meta, top-k, scales)."""
    return hidden_bytes + _SOURCE_META + _TOPK_SLOTS * (8 + 4) + _SCALE_SLOTS * 4


def launchable(b: DeepEpBuffers, ranks: int) -> bool:
    """Whether DeepEP has a dispatch / combine config for an EP group of `ranks` GPUs (else it asserts)."""
    return ranks in b.chunked_recv_tokens


def unlaunchable_reason(b: DeepEpBuffers, ranks: int) -> str:
    return (f"DeepEP has no dispatch config for {ranks} EP ranks (it has "
            f"{', '.join(map(str, sorted(b.chunked_recv_tokens)))})")


def normal_buffer_bytes(b: DeepEpBuffers, hidden: int, ranks: int) -> tuple[int, int]:
    """(NVLink bytes, RDMA bytes) of the normal kernels' hints for a group of `ranks` GPUs."""
    if not launchable(b, ranks):
        raise ValueError(unlaunchable_reason(b, ranks))
    nvl_tokens, rdma_tokens = b.chunked_recv_tokens[ranks]
    channels, nvl_ranks, rdma_ranks = b.num_sms // 2, min(ranks, b.nvl_peers), max(ranks // b.nvl_peers, 1)
    record = _token_record(hidden * b.hidden_bytes_per_value)
    nvl = channels * nvl_ranks * ((2 * rdma_ranks + 3) * 4 + nvl_tokens * record)
    if ranks <= b.nvl_peers:
        return _align(nvl), 0
    rdma = channels * rdma_ranks * ((2 * b.nvl_peers + 2) * 2 * 4 + rdma_tokens * 2 * (record + _INT4))
    return _align(nvl), _align(rdma + _RDMA_SAFETY)


def low_latency_bytes(b: DeepEpBuffers, hidden: int, num_experts: int) -> int:
    """The low-latency kernels' RDMA buffer (LowLatencyLayout's total, aligned as its size hint)."""
    t, scales = b.ll_max_dispatch_tokens_per_rank, hidden // 128
    dispatch_msg = _INT4 + max(2 * hidden, hidden + 4 * scales)
    combine_msg = 4 * scales + 2 * hidden
    send = max(t * dispatch_msg, num_experts * t * combine_msg)
    recv = num_experts * t * max(dispatch_msg, combine_msg)
    total = 2 * send + 2 * recv + 2 * _align(num_experts * 4)
    return (total + _ALIGN) // _ALIGN * _ALIGN


def deepep_buffer_bytes(b: DeepEpBuffers, hidden: int, num_experts: int, ranks: int) -> float:
    """Per-GPU bytes of the DeepEP buffer (normal + low-latency, `--deepep-mode auto`) and workspace;
    infinite for a group size DeepEP cannot be launched on (so no memory holds the engine)."""
    if not launchable(b, ranks):
        return math.inf
    nvl, rdma = normal_buffer_bytes(b, hidden, ranks)
    return float(nvl + max(rdma, low_latency_bytes(b, hidden, num_experts)) + b.workspace_bytes)
