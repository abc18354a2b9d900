"""What the detectors compare: the *arms* of a run.

With split labels, the arms are the splits (`target`, `control`, ...): each has a series per step.
Without labels, prompts are grouped into families (numbers masked out, see `SignalsConfig`), and the
families play the part of the splits, aggregated over the run (a family rarely has a group at every
step). The performance of an arm is its pass rate when success is known, else its mean reward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    frac_all_fail: float
    unique_frac: float
    first_step: int
    last_step: int
    example_prompt: str


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
                frac_all_fail=float(r["frac_all_fail"]),
                unique_frac=float(r["unique_frac"]),
                first_step=int(r["first_step"]),
                last_step=int(r["last_step"]),
                example_prompt=r["example_prompt"],
            )
        )
    return out
