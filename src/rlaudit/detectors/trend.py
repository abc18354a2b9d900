"""Trend statistics the detectors share: least-squares slopes, a paired bootstrap on the difference
of two slopes, first/last-window means, and the step window where a condition held (`stretch`: what a
finding reports as its `steps`, and what the report shades).

These are thin wrappers over numpy/scipy so every detector reads the same way.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def finite(x: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keep the positions where x and every y are finite."""
    keep = np.isfinite(x)
    for y in ys:
        keep &= np.isfinite(y)
    return (x[keep], *(y[keep] for y in ys))


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x (per step); NaN with fewer than 3 points or constant x."""
    x, y = finite(x.astype(float), y.astype(float))
    if len(x) < 3 or np.ptp(x) == 0:
        return float("nan")
    return float(stats.linregress(x, y).slope)


def gain(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fitted change of y over the span of x (slope x span) and the p-value that the slope is 0."""
    x, y = finite(x.astype(float), y.astype(float))
    if len(x) < 3 or np.ptp(x) == 0:
        return float("nan"), float("nan")
    fit = stats.linregress(x, y)
    p = float(fit.pvalue) if np.isfinite(fit.pvalue) else (1.0 if fit.slope == 0 else 0.0)
    return float(fit.slope * np.ptp(x)), p


BOOT_CHUNK = 1_000_000
"""Resampled points (resamples x steps) drawn at a time by `bootstrap_slope_diff`: ~8 MB per array,
however long the run (all 1,000 resamples of a 31,000-step run at once took ~250 MB per array)."""


def bootstrap_slope_diff(
    x: np.ndarray,
    y_a: np.ndarray,
    y_b: np.ndarray,
    *,
    n_boot: int,
    ci: float,
    seed: int,
    chunk: int = BOOT_CHUNK,
) -> tuple[float, float, float]:
    """slope(y_a) - slope(y_b) and its percentile bootstrap CI, resampling steps jointly (paired).

    The resamples are drawn in chunks of about `chunk` points. The generator's stream does not depend
    on how the draws are split, and each resample's slope is computed within its own row, so the CI is
    the same for any `chunk` (the tests check it against drawing everything at once).
    """
    x, y_a, y_b = finite(x.astype(float), y_a.astype(float), y_b.astype(float))
    if len(x) < 4 or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan")
    diff = slope(x, y_a) - slope(x, y_b)
    # A least-squares slope is linear in y for fixed x, so each resample's slope difference is the
    # slope of the paired difference: one regression per resample instead of two.
    dy = y_a - y_b
    rng = np.random.default_rng(seed)
    rows = max(1, chunk // len(x))
    diffs = []
    for start in range(0, n_boot, rows):
        idx = rng.integers(0, len(x), size=(min(rows, n_boot - start), len(x)))
        xs = x[idx]
        # Vectorised least squares over the chunk's resamples at once (sum(xc) = 0, so dy needs no
        # centring).
        xc = xs - xs.mean(axis=1, keepdims=True)
        denom = (xc**2).sum(axis=1)
        ok = denom > 0
        diffs.append((xc * dy[idx]).sum(axis=1)[ok] / denom[ok])
    lo, hi = np.percentile(
        np.concatenate(diffs) if diffs else np.empty(0), [100 * (1 - ci) / 2, 100 * (1 + ci) / 2]
    )
    return float(diff), float(lo), float(hi)


def window_means(y: np.ndarray, frac: float) -> tuple[float, float]:
    """Mean of the first and of the last `frac` of the finite values (at least one point each)."""
    y = y[np.isfinite(y)]
    if len(y) == 0:
        return float("nan"), float("nan")
    n = max(1, round(len(y) * frac))
    return float(y[:n].mean()), float(y[-n:].mean())


def stretch(steps: np.ndarray, mask: np.ndarray, *, bridge: int = 1) -> tuple[int, int] | None:
    """(first, last) step of the longest stretch where `mask` holds, or None when it never holds.

    Steps are taken in order; a stretch carries on across up to `bridge` consecutive steps where the
    mask fails (one noisy step does not split it) and ends at its last step where the mask holds. The
    stretch with the most steps where the mask holds wins, the earliest on a tie.
    """
    order = np.argsort(steps, kind="stable")
    steps, mask = np.asarray(steps)[order], np.asarray(mask, dtype=bool)[order]
    segments: list[tuple[int, int, int]] = []  # (steps held, first index, last index)
    misses = bridge + 1
    for i, ok in enumerate(mask):
        if ok and misses > bridge:
            segments.append((1, i, i))
        elif ok:
            held, first, _ = segments[-1]
            segments[-1] = (held + 1, first, i)
        misses = 0 if ok else misses + 1
    if not segments:
        return None
    _, first, last = max(segments, key=lambda seg: (seg[0], -seg[1]))
    return int(steps[first]), int(steps[last])


def nanmean(y: np.ndarray) -> float:
    y = y[np.isfinite(y)]
    return float(y.mean()) if len(y) else float("nan")


def weighted_mean(y: np.ndarray, weights: np.ndarray) -> float:
    """Mean of the finite values of `y`, weighted (e.g. by groups per step, so a step with one group
    counts once and a step with twenty counts twenty times); NaN when nothing is left."""
    keep = np.isfinite(y) & np.isfinite(weights) & (weights > 0)
    if not keep.any():
        return float("nan")
    return float(np.average(y[keep], weights=weights[keep]))
