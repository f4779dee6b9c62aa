"""The disaggregated reduction's skyline (solver/disagg_reduction._undominated) against its definition,
row by row: a row goes when another row of its class is >= on every column and > on one, or equal to
it and earlier. Small integer keys make ties and equal rows common."""
import numpy as np
import pytest

from sloplan.solver.disagg_reduction import _undominated


def _by_definition(keys: np.ndarray, classes: np.ndarray) -> np.ndarray:
    keep = []
    for i in range(len(keys)):
        same = np.flatnonzero(classes == classes[i])
        ge = (keys[same] >= keys[i]).all(axis=1)
        gt = (keys[same] > keys[i]).any(axis=1)
        if not ((ge & gt) | (ge & ~gt & (same < i))).any():
            keep.append(i)
    return np.array(keep, dtype=np.int64)


@pytest.mark.parametrize("seed", range(40))
def test_skyline_equals_definition(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 80)), int(rng.integers(1, 7))
    keys = rng.integers(0, 4, size=(n, k)).astype(float)
    classes = rng.integers(0, 3, size=n)
    assert np.array_equal(_undominated(keys, classes), _by_definition(keys, classes))
