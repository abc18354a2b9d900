import numpy as np
import pytest

from rlaudit.interp.stats import mean_difference, mean_distance, permutation_p, whitener


@pytest.mark.parametrize("paired", [True, False])
def test_a_planted_shift_is_significant_and_none_is_not(paired):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40) + 1.0, rng.normal(size=40)
    stat, p = permutation_p(mean_difference, a, b, paired=paired, n=500, seed=0)
    assert stat > 0.5 and p < 0.01
    _, p_null = permutation_p(mean_difference, rng.normal(size=40), rng.normal(size=40), paired=paired, n=500)
    assert p_null > 0.01


def test_p_is_never_zero_and_paired_needs_pairs():
    _, p = permutation_p(mean_difference, np.ones(5) * 10, np.zeros(5), paired=True, n=99)
    assert p >= 1 / 100
    with pytest.raises(ValueError, match="paired"):
        permutation_p(mean_difference, np.ones(3), np.ones(4), paired=True)


def test_whitened_mean_distance_is_the_mahalanobis_distance():
    """A unit shift along one axis of unit-variance data: the pooled variance along it is 1 + 1/4
    (the two halves' means are 1 apart), so the distance is 1 / sqrt(1.25) whatever the axes' scales."""
    rng = np.random.default_rng(1)
    scales = np.array([1.0, 5.0, 0.2, 1.0])
    a = rng.normal(size=(2000, 4)) * scales
    b = (rng.normal(size=(2000, 4)) + np.array([1, 0, 0, 0])) * scales
    w = whitener(np.concatenate([a, b]))
    assert mean_distance(a @ w, b @ w) == pytest.approx(1 / np.sqrt(1.25), rel=0.05)
