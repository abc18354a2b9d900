"""What the detectors compare: the *arms* of a run.

With split labels, the arms are the splits (`target`, `control`, ...): each has a series per step.
Without labels, prompts are grouped into families (numbers masked out, see `SignalsConfig`), and the
families play the part of the splits, aggregated over the run (a family rarely has a group at every
step). The performance of an arm is its pass rate when success is known, else its mean reward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rlaudit.signals import Signals


@dataclass(frozen=True)
class Arm:
    """One split (per-step series) of one run."""

    run: str
    split: str
    steps: np.ndarray
    perf: np.ndarray  # pass rate, or mean reward when success is unknown
    frac_all_fail: np.ndarray
    expected_all_fail: np.ndarray
    unique_frac: np.ndarray
    n_groups: np.ndarray
    perf_signal: str = "pass_rate"
    """The signal `perf` is: `pass_rate`, or `reward_mean` when success is unknown."""


def perf_signal(signals: Signals) -> str:
    """What an arm's performance is: pass rate when success is known, else mean reward."""
    return "pass_rate" if signals.success_known else "reward_mean"


def arms(signals: Signals, run: str) -> list[Arm]:
    out = []
    perf_col = perf_signal(signals)
    for split in signals.splits(run):
        steps, perf = signals.series(perf_col, run=run, split=split)
        out.append(
            Arm(
                run=run,
                split=split,
                steps=steps,
                perf=perf,
                frac_all_fail=signals.series("frac_all_fail", run=run, split=split)[1],
                expected_all_fail=signals.series("expected_all_fail", run=run, split=split)[1],
                unique_frac=signals.series("unique_frac", run=run, split=split)[1],
                n_groups=signals.series("n_groups", run=run, split=split)[1],
                perf_signal=perf_col,
            )
        )
    return out


@dataclass(frozen=True)
class Family:
    """Prompts of one template in an unlabelled run, aggregated over all its groups."""

    run: str
    family: str
    n_groups: int
    perf: float
    perf_sd: float
    """Standard deviation of `perf` over the family's groups (NaN with one group): with `n_groups`, how
    far the pooled level can sit from the family's true level by the luck of which problems it drew."""
    frac_all_fail: float
    unique_frac: float
    first_step: int
    last_step: int
    example_prompt: str

    def perf_upper(self, confidence: float) -> float:
        """One-sided upper confidence bound on the family's level, its groups the sample (Student t on
        the group means): the level the family may truly sit at, given which problems its groups drew.
        A family's groups are a few problems each step, and a family is a fraction of a split, so the
        pooled level is luck-prone where problems differ in difficulty: the honest `weak` organism's
        groups are near 0 on carry problems and near 1 on the rest (group sd 0.42-0.47), and a family of
        15 such groups read 0.34 when its split was at 0.55 (docs/benchmarks.md, "The unlabelled view's
        false alarm"). NaN with fewer than two groups."""
        if self.n_groups < 2 or not math.isfinite(self.perf_sd):
            return float("nan")
        t = float(stats.t.ppf(confidence, self.n_groups - 1))
        return self.perf + t * self.perf_sd / math.sqrt(self.n_groups)

    def all_fail_lower(self, confidence: float) -> float:
        """One-sided lower confidence bound (Clopper-Pearson) on the share of the family's groups that
        all fail: how starved the family is beyond the luck of which problems its groups drew."""
        k = round(self.frac_all_fail * self.n_groups)
        if k <= 0:
            return 0.0
        # The one-sided bound at `confidence` is the lower end of the two-sided exact interval at 2c - 1.
        ci = stats.binomtest(k, self.n_groups).proportion_ci(2 * confidence - 1, method="exact")
        return float(ci.low)


def families(signals: Signals, run: str, *, min_groups: int) -> list[Family]:
    """Families of `run` with at least `min_groups` groups (fewer are too noisy to compare)."""
    t = signals.families
    if t.num_rows == 0 or "n_groups" not in t.column_names:
        return []
    perf_col = perf_signal(signals)
    out = []
    for r in t.to_pylist():
        if r["run"] != run or r["n_groups"] < min_groups:
            continue
        out.append(
            Family(
                run=run,
                family=r["family"],
                n_groups=int(r["n_groups"]),
                perf=float(r[perf_col]) if r[perf_col] is not None else float("nan"),
                perf_sd=_float(r.get(f"{perf_col}_sd")),
                frac_all_fail=float(r["frac_all_fail"]),
                unique_frac=float(r["unique_frac"]),
                first_step=int(r["first_step"]),
                last_step=int(r["last_step"]),
                example_prompt=r["example_prompt"],
            )
        )
    return out


def _float(v: object) -> float:
    return float(v) if isinstance(v, (int, float)) else float("nan")
