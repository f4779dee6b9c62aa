"""Attention sinks (gpt-oss): what they cost, and why that cost is left inside the attention kernel's time.

A sink is one learned logit per head that joins every query's softmax as if it were one more key with no
value: the kernel adds exp(sink - max) to the running denominator once per (query token, head) at the end,
beside the 2 x kv_len x head_dim multiply-adds of Q.K and P.V. So the work it adds is a constant handful of
FLOPs per (query, head), and its bytes are one fp32 per head per layer, read once per kernel launch.

Why no term of its own (evidence, gpt-oss-120b: 64 heads of 64, window 128):
* the share is at most SINK_FLOPS / (4 x head_dim x kv_len): 9e-5 at the 128-token window, the shortest
  attention a gpt-oss layer ever runs, less on the full layers; the bytes (256 per layer) are below one
  cache line per head;
* the frameworks run gpt-oss through fused attention kernels that take the sinks as an argument, so the
  sink never launches a kernel of its own; pricing it as a
  separate element-wise op would add the memory model's 3 us launch latency per layer, 100 us per step,
  which no kernel pays;
* the attention tables shipped for these frameworks (perfdb) hold gpt-oss's geometry (head_dim 64,
  window 128) and no sink axis; the peer (AIConfigurator) prices gpt-oss attention from the same tables
  with no sink term either.
So the estimate prices a sink layer's attention from the kernel table as is, and says so: `note` is in
the architecture's summary and in every estimate's `notes` (`sloplan estimate` prints it).
"""
from __future__ import annotations

# exp(sink - max), its add into the running sum and the rescale of the output it causes, per (query, head)
SINK_FLOPS_PER_QUERY_HEAD = 3.0


def flop_share(head_dim: int, kv_len: int) -> float:
    """The sink's share of one (query, head)'s attention FLOPs over `kv_len` keys: Q.K and P.V are
    2 x kv_len x head_dim multiply-adds (4 x kv_len x head_dim FLOPs)."""
    attention = 4.0 * head_dim * max(kv_len, 1)
    return SINK_FLOPS_PER_QUERY_HEAD / (attention + SINK_FLOPS_PER_QUERY_HEAD)


def note(head_dim: int, shortest_kv: int) -> str:
    """What an estimate says about its sinks: in the kernel's time, with the bound at the shortest attention."""
    share = flop_share(head_dim, shortest_kv)
    return f"attention sinks (inside the attention kernel time, <= {share:.0e} of its FLOPs)"
