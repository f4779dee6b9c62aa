"""Analytic ops without tables (peer §1.6): point-to-point sends, memory-bound kernels, embedding gather.
Priced from bytes moved alone, tier ROOFLINE; their queries name no family (queries.py)."""
from __future__ import annotations

import numpy as np

from .family import answers
from .lookup import Lookup
from .queries import Embedding, MemoryOp, P2p
from .tier import Tier

MEM_BW_EFFICIENCY = 0.8  # element-wise kernels reach ~80 % of HBM bandwidth (aiconfigurator-core systems)
MEM_OP_LATENCY_S = 3e-6  # launch + tail of a small element-wise kernel


@answers(P2p)
def p2p(db, q: P2p) -> Lookup:
    """bytes / link bandwidth + the system's per-hop latency."""
    s = db.system
    bw = s.inter_node_bw_bytes_per_s if q.cross_node else s.intra_node_bw_bytes_per_s
    nb = np.maximum(np.asarray(q.nbytes, dtype=np.float64), 0.0)
    return Lookup.of(nb / bw + s.p2p_latency_s, Tier.ROOFLINE)


@answers(MemoryOp)
def memory_op(db, q: MemoryOp) -> Lookup:
    """bytes / (0.8 · HBM bandwidth) + 3 µs."""
    nb = np.maximum(np.asarray(q.nbytes, dtype=np.float64), 0.0)
    bw = db.system.mem_bw_bytes_per_s * MEM_BW_EFFICIENCY
    return Lookup.of(nb / bw + MEM_OP_LATENCY_S, Tier.ROOFLINE)


@answers(Embedding)
def embedding(db, q: Embedding) -> Lookup:
    """Reads only the touched rows (tokens · hidden · bytes) and writes them out, so bytes = 2 · tokens ·
    hidden · dtype_bytes, priced like `MemoryOp`. The vocabulary size does not matter: untouched rows are
    never read."""
    t = np.maximum(np.asarray(q.tokens, dtype=np.float64), 0.0)
    return memory_op(db, MemoryOp(2.0 * t * float(q.hidden) * q.dtype_bytes))
