"""The one-engine-per-pool enumeration's exact keys (solver/disagg_pairs.py `_exact_keys`): integers at a
common power of two, in the same order and with the same ties as the Fractions DisaggDeployment computes."""
from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from sloplan.solver.disagg_pairs import _dyadic, _exact_keys
from sloplan.solver.synthetic import random_disagg


def _fraction_rate(inst, a, b, n, m) -> Fraction:
    """DisaggDeployment.from_counts's rate for one prefill row a (n workers) and one decode row b (m)."""
    pre = Fraction(float(inst.rho[a, b])) * Fraction(float(inst.prefill.requests_per_s[a])) * n
    return min(pre, Fraction(float(inst.decode.requests_per_s[b])) * m) * inst.osl


def test_dyadic_is_exact():
    for x in (0.0, 1.0, 3.0, 0.1, 1e-300, 5e-324, 1.7976931348623157e308, 123.456):
        num, e = _dyadic(x)
        assert e >= 0 and Fraction(num, 2 ** e) == Fraction(x)


@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_keys_order_and_tie_as_the_fractions(seed, quantized):
    inst = random_disagg(seed, prefill_rows=3, decode_rows=4, total_gpus=12, quantized=quantized)
    plans = [(a, b, n, m) for a in range(3) for b in range(4) for n in range(1, 4) for m in range(1, 4)]
    keys = _exact_keys(inst, plans)
    exact = [_fraction_rate(inst, *p) for p in plans]
    assert len(keys) == len(plans)
    for (k1, f1), (k2, f2) in itertools.combinations(zip((k[0] for k in keys), exact), 2):
        assert (k1 > k2) == (f1 > f2) and (k1 == k2) == (f1 == f2)
        assert Fraction(k1) * f2 == Fraction(k2) * f1  # one positive scale for all: k = rate * 2**K
    ties = len(exact) - len(set(exact))
    assert not quantized or ties > 0  # the quantized instances do tie, so ties are tested
    assert _exact_keys(inst, []) == []
