"""Attention-DP physics of the MoE step: vLLM's DP-group collectives (and across nodes), the experts' token
count when only some ranks prefill, and the ranks' lockstep in the closed loop."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.model.aggregated import closed_loop, expert_group_tokens, prefilling_ranks, step_curves
from sloplan.model.calibration import calibration
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, framework
from sloplan.perfdb.queries import AllReduce, Nccl, P2p
from sloplan.model.ops import Op, linear_ops
from sloplan.model.quant import GemmQuant, Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_perfdb, load_system

FP8B = Quant.default_for(GemmQuant.FP8_BLOCK)
H200 = load_system("h200_sxm")
TOKENS = np.array([1, 16, 256])


@pytest.fixture(scope="module")
def qwen():
    return resolve_model("Qwen/Qwen3-30B-A3B-FP8", estimable=False)


def _dispatch(qwen, engine):
    return [t for t in linear_ops(qwen, engine, H200, TOKENS, TOKENS, Backend.VLLM).terms if t.op is Op.MOE_DISPATCH]


def test_vllm_gathers_over_the_dp_group_inside_a_node(qwen):
    """tp2 dp2 ep4: the all-gather runs over the 2 DP ranks, on both ranks' tokens."""
    (ag,) = _dispatch(qwen, Engine(2, 1, FP8B, dp=2, moe_ep=4))
    assert isinstance(ag.query, Nccl) and ag.query.scalars[:2] == ("all_gather", 2)
    assert np.allclose(ag.query.arrays[0], TOKENS * 2 * qwen.hidden_size)


def test_vllm_dp_group_across_two_nodes_crosses_the_inter_node_link(qwen):
    """tp4 dp4 ep16 on 8-GPU nodes: 2 DP ranks per node gather their half, the other half crosses nodes."""
    ag, hop = _dispatch(qwen, Engine(4, 1, FP8B, dp=4, moe_ep=16))
    elems = TOKENS * 4 * qwen.hidden_size
    assert ag.query.scalars[:2] == ("all_gather", 2) and np.allclose(ag.query.arrays[0], elems / 2)
    assert isinstance(hop.query, P2p) and hop.query.scalars == (True,) and not hop.analytic  # no table: ROOFLINE
    assert np.allclose(hop.query.arrays[0], elems * 2.0 / 2)


def test_prefilling_ranks_runs_from_one_to_all():
    got = prefilling_ranks(4, np.array([0.0, 0.1, 0.5, 1.0, 3.0]))
    assert got[0] == pytest.approx(1.0) and got[3] == pytest.approx(4.0) and got[4] == pytest.approx(4.0)
    assert np.all(np.diff(got) >= 0)


def test_mixed_step_experts_see_one_chunk_at_low_load():
    """At few decode requests a mixed step's experts see d*dp decode tokens and about one rank's chunk."""
    engine, wl = Engine(1, 1, FP8B, dp=4, moe_ep=4), Workload(4000, 500)
    d, chunk, room = np.array([0, 1]), np.array([4000, 4000]), np.array([8192, 8191])
    dec, mix, full = np.split(expert_group_tokens(engine, wl, d, chunk, room), 3)
    assert list(dec) == [4, 4] and mix[0] == pytest.approx(4000) and 4004 < mix[1] < 4004 + 4000 * 0.02
    assert list(full) == [4 * 8192, 4 * 8192]
    assert expert_group_tokens(Engine(1, 1, FP8B), wl, d, chunk, room) is None


def test_lockstep_ranks_step_no_faster_than_a_lone_rank(qwen):
    db = load_perfdb("h200_sxm", "trtllm")
    fw, cal, wl = framework("trtllm").profile, calibration("trtllm", "h200_sxm"), Workload(4000, 500)
    engine = Engine(1, 1, FP8B, dp=4, moe_ep=4)
    curves = step_curves(qwen, engine, db, fw, wl, 80)
    conc = np.array([1.0, 8.0, 32.0, 64.0])
    alone, lockstep = (closed_loop(curves, wl, 1, conc, 1000, cal, dp) for dp in (1, 4))
    assert np.all(lockstep.tpot_s >= alone.tpot_s) and lockstep.tpot_s[-1] > alone.tpot_s[-1]


def test_tp_all_reduce_wider_than_a_node_is_hierarchical(qwen):
    """tp16 on 8-GPU nodes: the 8-GPU all-reduce (measured) and each GPU's 1/8 shard across the 2 nodes."""
    terms = [t for t in linear_ops(qwen, Engine(16, 1, FP8B, moe_tp=4, moe_ep=4), H200, TOKENS, TOKENS).terms
             if t.op in (Op.ALL_REDUCE, Op.MOE_ALL_REDUCE)]
    assert [type(t.query) for t in terms] == [AllReduce, P2p] * 2
    assert all(t.query.scalars == (8,) for t in terms[::2])
    assert np.allclose(terms[1].query.arrays[0], TOKENS * qwen.hidden_size * 2.0 / 8 * 2 * 1 / 2)
    inside = [t for t in linear_ops(qwen, Engine(8, 1, FP8B, moe_ep=8), H200, TOKENS, TOKENS).terms
              if isinstance(t.query, P2p)]
    assert not inside
