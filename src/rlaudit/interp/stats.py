"""Permutation tests of a difference between two sets of rows (scores or activation vectors).

`permutation_p(stat, a, b, paired=..., n=..., seed=...)`: the one-sided p-value of ``stat(a, b)``
being as large as observed when the two sets are exchangeable. Paired (row ``i`` of `a` and of `b` are
one problem, asked under the two splits' tags): each permutation swaps the two rows of a random subset
of pairs. Unpaired: each permutation reshuffles which rows are `a`. The p-value counts the observed
arrangement among the permutations, ``(1 + #{stat_perm >= stat_obs}) / (1 + n)``, so it is never 0
(Phipson & Smyth 2010).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Statistic = Callable[[np.ndarray, np.ndarray], float]


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    """``mean(a) - mean(b)`` of 1-D scores."""
    return float(np.mean(a) - np.mean(b))


def permutation_p(
    stat: Statistic, a: np.ndarray, b: np.ndarray, *, paired: bool, n: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """``(observed statistic, one-sided permutation p-value)``; see the module docstring."""
    if n < 1:
        raise ValueError(f"permutations must be >= 1 (got {n})")
    a, b = np.asarray(a), np.asarray(b)
    if paired and len(a) != len(b):
        raise ValueError(f"paired sets need one row each per pair (got {len(a)} and {len(b)})")
    observed = stat(a, b)
    rng = np.random.default_rng(seed)
    both = np.concatenate([a, b])
    hits = 0
    for _ in range(n):
        if paired:
            swap = rng.random(len(a)) < 0.5
            shape = (-1,) + (1,) * (a.ndim - 1)
            pa = np.where(swap.reshape(shape), b, a)
            pb = np.where(swap.reshape(shape), a, b)
        else:
            order = rng.permutation(len(both))
            pa, pb = both[order[: len(a)]], both[order[len(a) :]]
        hits += stat(pa, pb) >= observed - 1e-12
    return observed, (1 + hits) / (1 + n)


def whitener(x: np.ndarray) -> np.ndarray:
    """A matrix ``W`` with ``(x @ W)`` of identity covariance under the Ledoit-Wolf shrinkage estimate
    of `x`'s covariance (well-conditioned with fewer rows than dimensions)."""
    from sklearn.covariance import LedoitWolf

    cov = LedoitWolf().fit(np.asarray(x, dtype=np.float64)).covariance_
    values, vectors = np.linalg.eigh(cov)
    return np.asarray(vectors / np.sqrt(np.clip(values, 1e-12, None)))


def mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between the row means of `a` and `b` (whitened rows: a Mahalanobis distance)."""
    return float(np.linalg.norm(np.mean(a, axis=0) - np.mean(b, axis=0)))
