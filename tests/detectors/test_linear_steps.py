"""Detectors linear in the number of steps (issue 13): the cumulative-sum change point is ruptures'
binary segmentation, the chunked bootstrap is the one-shot bootstrap, and 30,000 steps are cheap."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from rlaudit.detectors.diversity import change_point_drop, split_point
from rlaudit.detectors.trend import bootstrap_slope_diff, slope


def ruptures_split(z: np.ndarray, min_size: int) -> int:
    """What the diversity detector ran before: ruptures' first binary-segmentation breakpoint."""
    rpt = pytest.importorskip("ruptures")
    return rpt.Binseg(model="l2", min_size=min_size, jump=1).fit(z.reshape(-1, 1)).predict(n_bkps=1)[0]


def series(kind: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise, small integers and rounded values (many exact ties), a clean step, an alternation."""
    if kind == 0:
        return rng.normal(size=n)
    if kind == 1:
        return rng.integers(0, 3, n).astype(float)
    if kind == 2:
        return np.round(rng.random(n), 1)
    if kind == 3:
        return np.r_[np.ones(n // 2), np.zeros(n - n // 2)]
    return np.tile([0.0, 1.0], n)[:n]


def test_split_point_is_ruptures_binseg_breakpoint() -> None:
    rng = np.random.default_rng(0)
    checked = 0
    for trial in range(1500):
        n, m = int(rng.integers(2, 60)), int(rng.integers(1, 6))
        y = series(trial % 5, n, rng)
        if n < 2 * m or np.ptp(y) == 0:
            continue
        z = (y - y.mean()) / y.std()
        assert split_point(z, m) == ruptures_split(z, m), (y.tolist(), m)
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize("n", [500, 3000])
def test_split_point_matches_on_longer_series(n: int) -> None:
    rng = np.random.default_rng(n)
    y = np.r_[rng.normal(0.8, 0.1, n // 3), rng.normal(0.3, 0.1, n - n // 3)]
    for z in (y, rng.normal(size=n), np.round(y, 1)):
        z = (z - z.mean()) / z.std()
        assert split_point(z, 3) == ruptures_split(z, 3)


def one_shot_bootstrap(
    x: np.ndarray, y_a: np.ndarray, y_b: np.ndarray, *, n_boot: int, ci: float, seed: int
) -> tuple[float, float]:
    """The bootstrap as it was: every resample's indices drawn at once (n_boot x steps)."""
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
    xs, ya, yb = x[idx], y_a[idx], y_b[idx]
    xc = xs - xs.mean(axis=1, keepdims=True)
    denom = (xc**2).sum(axis=1)
    ok = denom > 0
    sa = (xc * (ya - ya.mean(axis=1, keepdims=True))).sum(axis=1)[ok] / denom[ok]
    sb = (xc * (yb - yb.mean(axis=1, keepdims=True))).sum(axis=1)[ok] / denom[ok]
    lo, hi = np.percentile(sa - sb, [100 * (1 - ci) / 2, 100 * (1 + ci) / 2])
    return float(lo), float(hi)


@pytest.mark.parametrize("n", [4, 7, 40, 301])
def test_bootstrap_is_the_same_in_any_chunks(n: int) -> None:
    rng = np.random.default_rng(n)
    x = np.arange(n, dtype=float)
    y_a, y_b = rng.random(n) + 0.01 * x, rng.random(n)
    want = one_shot_bootstrap(x, y_a, y_b, n_boot=999, ci=0.95, seed=3)
    got = set()
    for chunk in (1, n, 5 * n + 1, 10**9):  # one resample per chunk ... all at once
        diff, lo, hi = bootstrap_slope_diff(x, y_a, y_b, n_boot=999, ci=0.95, seed=3, chunk=chunk)
        got.add((lo, hi))
        # the same resamples as two regressions per resample, up to float rounding (it now regresses
        # the paired difference once)
        assert (lo, hi) == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert diff == slope(x, y_a) - slope(x, y_b)
    assert len(got) == 1  # bit-identical in any chunks


def test_30000_steps_are_cheap() -> None:
    """A 30,000-step run: change point and bootstrap in bounded memory and well under a few seconds
    (ruptures' search took minutes at this length; the one-shot bootstrap held ~1 GB of arrays). The
    bounds are loose on purpose: speed targets live in benchmarks/monitor_shapes.py."""
    n = 30_000
    rng = np.random.default_rng(0)
    steps = np.arange(n)
    y = np.r_[np.full(n - 5000, 0.8), np.full(5000, 0.2)] + rng.normal(0, 0.05, n)
    t0 = time.perf_counter()
    drop = change_point_drop(steps, y, min_segment=3)
    tracemalloc.start()
    try:
        diff, lo, hi = bootstrap_slope_diff(steps, y, rng.random(n), n_boot=1000, ci=0.95, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - t0
    assert drop is not None and drop.step == n - 5000
    assert lo < diff < hi
    assert peak < 200 * 2**20, f"bootstrap peak {peak / 2**20:.0f} MB"
    assert seconds < 10, f"{seconds:.1f} s"
