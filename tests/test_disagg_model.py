"""The disaggregated formulation by hand: queueing caps, rate balance, groups, plans."""
import numpy as np
import pytest

from sloplan.core.enums import Role
from sloplan.model.option_table import Pool
from sloplan.solver.brute_disagg import brute_disagg_best
from sloplan.solver.backends import backend_for
from sloplan.solver.disagg import _max_tokens, disagg_best, disagg_best_plan, disagg_front_plans
from sloplan.solver.disagg_tables import DecodeTable, DisaggInstance, PrefillTable, md1_wait_s, utilisation_cap
from sloplan.solver.groups import ConstraintGroup
from sloplan.solver.problems.disagg import DisaggProblem, build_disagg_problem
from sloplan.solver.slo import Slo


def one_by_one(slo=Slo(), total=8, kv=0.02, **kw) -> DisaggInstance:
    """Prefill: 1 GPU, 10 prompts/s (batch 1 in 0.1 s). Decode: 1 GPU, 3 requests/s, first step 0.03 s."""
    z = np.zeros(1, np.int64)
    prefill = PrefillTable(gpus=np.array([1]), requests_per_s=np.array([10.0]), latency_s=np.array([0.1]),
                           batch=np.array([1]), pool=z, pools=(Pool("prefill", "h200"),), engine_index=z,
                           tier=z, source=z)
    decode = DecodeTable(gpus=np.array([1]), requests_per_s=np.array([3.0]), tpot_s=np.array([0.02]),
                         concurrency=np.array([6]), kv_capacity=np.array([8]), first_step_s=np.array([0.03]),
                         pool=z, pools=(Pool("decode", "h200"),), engine_index=z, tier=z, source=z)
    return DisaggInstance(prefill, decode, np.array([[kv]]), osl=100, total_gpus=total, slo=slo, **kw)


def test_md1_cap_inverts_the_wait():
    lat = np.array([0.1, 0.4, 1.0])
    for w in (0.0, 0.01, 0.3, 5.0):
        rho = utilisation_cap(np.full(3, w), lat)
        assert np.all((0 <= rho) & (rho < 1))
        assert [md1_wait_s(r, t) for r, t in zip(rho, lat)] == pytest.approx([w] * 3)
    assert utilisation_cap(np.array([-0.01]), np.array([0.1]))[0] == 0.0


def test_rate_balance_by_hand():
    """No SLO: prefill capped at 0.9 * 10 = 9 req/s per worker. 2P+6D serve 18 req/s on all 8 GPUs
    (1800 tok/s, 225 tok/s per budget GPU); 1P+7D or 3P+5D serve 9 or 15 req/s."""
    best = disagg_best(one_by_one())
    assert best.prefill == ((0, 2),) and best.decode == ((0, 6),)
    assert best.tokens_per_s_per_gpu == 225.0 and best.tokens_per_s == 1800.0
    assert best.prefill_utilisation == (pytest.approx(0.9),)


def test_ttft_budget_becomes_a_utilisation_cap():
    """TTFT <= 0.2 s: wait budget 0.2 - 0.1 - 0.02 - 0.03 = 0.05 s, so rho <= 0.1 / 0.2 = 0.5 and a
    prefill worker sustains 5 req/s: 3P+5D serve 15 req/s on 8 GPUs, TTFT exactly at the budget."""
    inst = one_by_one(Slo(ttft_s=0.2))
    best = disagg_best(inst)
    assert best.prefill == ((0, 3),) and best.decode == ((0, 5),)
    assert best.tokens_per_s_per_gpu == 187.5
    assert best.ttft_s == pytest.approx(0.2)
    assert best.key == brute_disagg_best(inst).key


def test_kv_transfer_and_first_step_eat_the_ttft_budget():
    assert disagg_best(one_by_one(Slo(ttft_s=0.15), kv=0.02)) is None  # 0.1 + 0.02 + 0.03 = 0.15: rho = 0
    assert disagg_best(one_by_one(Slo(ttft_s=0.15), kv=0.0)) is not None


def test_memory_and_tpot_rows_exclude_decode_options():
    inst = one_by_one()
    small = DisaggInstance(inst.prefill, _with(inst.decode, kv_capacity=np.array([5])), inst.kv_transfer_s,
                           osl=100, total_gpus=8)
    assert disagg_best(small) is None
    assert disagg_best(one_by_one(Slo(tpot_s=0.01))) is None
    problem = build_disagg_problem(small)
    assert problem.formulation.groups()[ConstraintGroup.MEMORY] == ("memory",)
    relaxed = DisaggProblem(small, problem.formulation.without_groups({ConstraintGroup.MEMORY}))
    assert _max_tokens(backend_for()(relaxed.formulation), relaxed) is not None


def _with(table, **cols):
    fields = {k: getattr(table, k) for k in table.__dataclass_fields__}
    return type(table)(**{**fields, **cols})


def test_named_groups_and_relaxing_ttft():
    inst = one_by_one(Slo(ttft_s=0.2))
    problem = build_disagg_problem(inst)
    groups = problem.formulation.groups()
    for g in (ConstraintGroup.RATE_BALANCE, ConstraintGroup.SLO_TTFT, ConstraintGroup.GPU_BUDGET,
              ConstraintGroup.ENGINE_CHOICE, ConstraintGroup.USER_SPEED_FLOOR):
        assert g in groups
    relaxed = DisaggProblem(one_by_one(), problem.formulation.without_groups({ConstraintGroup.SLO_TTFT}))
    free = _max_tokens(backend_for()(relaxed.formulation), relaxed)
    capped = _max_tokens(backend_for()(problem.formulation), problem)
    assert free.tokens_exact > capped.tokens_exact  # the TTFT rows were binding
    assert free.tokens_exact == disagg_best(one_by_one()).tokens_exact  # relaxed = the instance without TTFT


def test_per_pool_limits_bind():
    best = disagg_best(one_by_one(max_decode_gpus=3))
    assert best.decode_gpus <= 3 and best.prefill == ((0, 1),) and best.decode == ((0, 3),)
    assert disagg_best(one_by_one(gpus_by_class={"h200": 3})).gpus_used <= 3
    with pytest.raises(ValueError, match="gpus_by_class"):
        one_by_one(gpus_by_class={"b200": 3})


def test_plan_has_a_prefill_and_a_decode_group():
    plan = disagg_best_plan(one_by_one())
    roles = [g.role for g in plan.groups]
    assert roles == [Role.PREFILL, Role.DECODE]
    pre, dec = plan.groups
    assert (pre.count, pre.gpus_per_replica, pre.pool.name) == (2, 1, "prefill")
    assert (dec.count, dec.concurrency, dec.pool.name) == (6, 6, "decode")
    assert plan.metrics.gpus_used == sum(g.gpus for g in plan.groups) == 8
    assert plan.gpus_by_class == (("h200", 8),)
    assert plan.metrics.tokens_per_s_per_gpu == 225.0
    assert [p.metrics.tokens_per_s_per_gpu for p in disagg_front_plans(one_by_one())] == [225.0]


def two_decoders(mixed: bool) -> DisaggInstance:
    """Decode A is faster per GPU (5 req/s) but its first step (0.09 s) leaves prefill a wait of only
    0.01 s (rho <= 1/6); decode B (3 req/s, first step 0.01 s) leaves 0.09 s (rho <= 9/14)."""
    base = one_by_one(Slo(ttft_s=0.2), kv=0.0)
    z = np.zeros(2, np.int64)
    decode = DecodeTable(gpus=np.array([1, 1]), requests_per_s=np.array([5.0, 3.0]), tpot_s=np.array([0.02, 0.02]),
                         concurrency=np.array([6, 6]), kv_capacity=np.array([8, 8]),
                         first_step_s=np.array([0.09, 0.01]), pool=z, pools=base.decode.pools, engine_index=z,
                         tier=z, source=z)
    return DisaggInstance(base.prefill, decode, np.array([[0.0]]), osl=100, total_gpus=8, slo=base.slo,
                          mixed_pools=mixed)


@pytest.mark.parametrize("mixed", [False, True])
def test_ttft_caps_are_per_pair(mixed):
    """With B: 3P + 5D serve min(19.3, 15) = 15 req/s on 8 GPUs; with A at most 10 (6P + 2D, A's cap
    of 1/6 leaves a prefill worker 1.67 req/s). A's capacity must not be paired with B's utilisation
    cap (that would promise 1P + 1D at 5 req/s on 2 GPUs, so 4P + 4D at 20 req/s)."""
    inst = two_decoders(mixed)
    best = disagg_best(inst)
    assert best.key == brute_disagg_best(inst).key
    assert best.decode == ((1, 5),) and best.prefill == ((0, 3),)
    assert best.tokens_per_s == 1500.0 and best.tokens_per_s_per_gpu == 187.5 and best.ttft_s <= 0.2


@pytest.mark.parametrize("reduce", [True, False])
def test_user_speed_breaks_exact_ties(reduce):
    """Decode rows equal in GPUs, rate and first step, one twice as fast for users: tokens/s/GPU and
    tokens/s tie exactly, so the third level must pick the faster one (with and without reduction)."""
    base = one_by_one()
    z = np.zeros(3, np.int64)
    decode = DecodeTable(gpus=np.array([1, 1, 2]), requests_per_s=np.array([3.0, 3.0, 6.0]),
                         tpot_s=np.array([0.02, 0.01, 0.015]), concurrency=np.array([6, 6, 6]),
                         kv_capacity=np.array([8, 8, 8]), first_step_s=np.array([0.03, 0.03, 0.03]), pool=z,
                         pools=base.decode.pools, engine_index=z, tier=z, source=z)
    for mixed in (False, True):
        inst = DisaggInstance(base.prefill, decode, base.kv_transfer_s, osl=100, total_gpus=8, mixed_pools=mixed)
        best = disagg_best(inst, reduce=reduce)
        assert best.tokens_per_s_per_user == 100.0 and best.tokens_per_s == 1800.0
        assert best.key == brute_disagg_best(inst).key


def test_formulation_exports_with_its_names(tmp_path):
    """The disaggregated model goes through the backend interface like the others, names included."""
    problem = build_disagg_problem(two_decoders(mixed=False))
    backend = backend_for()(problem.formulation)
    text = backend.export(tmp_path / "disagg.lp").read_text()
    for name in ("rate_prefill", "rate_decode", "ttft_pair", "gpu_budget", "one_decode", "yd(0)"):
        assert name in text
    best = disagg_best(two_decoders(mixed=False))
    assert best.meets(Slo(ttft_s=0.2)) and not best.meets(Slo(ttft_s=0.1))
