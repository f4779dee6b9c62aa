"""How far the best plan across modes is proved when a limit stopped one mode (sloplan/solve_disagg.py)."""
import math
from types import SimpleNamespace

from sloplan.solve_disagg import merged_best, merged_front
from sloplan.solver.limits import PROVED, Outcome, SolveStatus

TL = SolveStatus.TIME_LIMIT


def plan(tokens):
    return SimpleNamespace(metrics=SimpleNamespace(tokens_per_s=tokens))


def test_all_proved_is_proved_or_infeasible():
    a = plan(10.0)
    assert merged_best([("r", a, PROVED), ("d", None, Outcome(SolveStatus.INFEASIBLE))], a) is PROVED
    none = merged_best([("r", None, Outcome(SolveStatus.INFEASIBLE)), ("d", None, Outcome(SolveStatus.INFEASIBLE))],
                       None)
    assert none.status is SolveStatus.INFEASIBLE


def test_a_limited_mode_whose_bound_stays_below_the_best_leaves_it_proved():
    a, b = plan(10.0), plan(8.0)
    assert merged_best([("r", a, PROVED), ("d", b, Outcome(TL, 0.2, "x"))], a) is PROVED  # 8 × 1.2 < 10


def test_a_limited_mode_that_could_beat_the_best_opens_the_gap():
    a, b = plan(10.0), plan(9.0)
    out = merged_best([("r", a, PROVED), ("d", b, Outcome(TL, 0.5, "tokens/s not proved optimal"))], a)
    assert out.status is TL and math.isclose(out.gap, 0.35) and out.detail == "d: tokens/s not proved optimal"
    out = merged_best([("r", a, PROVED), ("d", None, Outcome(TL, math.inf, "stopped before a plan was found"))], a)
    assert out.status is TL and out.gap == math.inf


def test_the_best_modes_own_gap_is_kept_exactly():
    a = plan(10.0)
    own = Outcome(TL, 0.1, "tokens/s not proved optimal")
    assert merged_best([("d", a, own)], a) == own
    out = merged_best([("r", None, Outcome(SolveStatus.INFEASIBLE)), ("d", a, own)], a)
    assert out.gap == 0.1 and out.detail == "d: tokens/s not proved optimal"


def test_no_plan_and_a_limit_is_not_infeasible():
    out = merged_best([("r", None, Outcome(SolveStatus.INFEASIBLE)), ("d", None, Outcome(TL, math.inf, "s"))], None)
    assert out.status is TL and not out.proved


def test_front_is_complete_only_when_every_trace_is():
    assert merged_front([("r", PROVED), ("d", PROVED)]) is PROVED
    cut = merged_front([("r", PROVED), ("d", Outcome(TL, math.inf, "front traced up to 3.0 tok/s/user only"))])
    assert cut.status is TL and cut.detail.startswith("d: front traced")
    assert merged_front([("r", Outcome(SolveStatus.INFEASIBLE))]).status is SolveStatus.INFEASIBLE
