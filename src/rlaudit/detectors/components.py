"""Reward components across runs: what each reward configuration pays, and whether the policy responds.

Read by `reward_config_invariance`. Each rollout's reward components (TRL's per-function rewards,
`Signals.component_splits`) give, per run x step x split x component, the share of rollouts paid a
positive value of it (`earned`). A configuration adds a component when its run logs it and another run
of the store does not (`added_components`). A policy *responds* to a component when the rate at which
it earns it rises over the run by `response_gain` or more, or sits at `learned_level` or above over
the run's last half (`ComponentSeries.responds`).

A component is *learnable* for a run when the run's control split responds to it, or another run of
the store (an honest reference, or another configuration) does: then a target that does not respond is
not "can't", it is "won't".
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rlaudit.detectors.trend import gain, weighted_mean
from rlaudit.signals import Signals


@dataclass(frozen=True)
class ComponentSeries:
    """The earned rate of one component in one run and split, per step."""

    run: str
    split: str
    component: str
    steps: np.ndarray
    earned: np.ndarray
    n: np.ndarray
    varied: np.ndarray | None = None
    """Per step, the share of GRPO groups paid the component unequally (None: not known)."""
    n_groups: np.ndarray | None = None

    @property
    def rate(self) -> float:
        """Share of all the split's rollouts paid the component (rollout-weighted over the run)."""
        return weighted_mean(self.earned, self.n)

    @property
    def gain(self) -> float:
        return gain(self.steps, self.earned)[0]

    @property
    def late_rate(self) -> float:
        """The rate over the last half of the logged steps."""
        half = len(self.steps) // 2
        return weighted_mean(self.earned[half:], self.n[half:])

    @property
    def signal_rate(self) -> float:
        """Share of the run's groups in which the component moved an advantage (paid unequally): 0 when
        it was paid alike to every group's rollouts, all or none. NaN when not known."""
        if self.varied is None or self.n_groups is None:
            return float("nan")
        return weighted_mean(self.varied, self.n_groups)

    def responds(self, response_gain: float, learned_level: float) -> bool:
        g, late = self.gain, self.late_rate
        return bool((np.isfinite(g) and g >= response_gain) or (np.isfinite(late) and late >= learned_level))

    def describe(self) -> str:
        half = max(1, len(self.steps) // 2)
        early = weighted_mean(self.earned[:half], self.n[:half])
        return f"{early:.0%} -> {self.late_rate:.0%} of rollouts over steps {self.steps[0]}-{self.steps[-1]}"


def component_series(signals: Signals, run: str) -> dict[tuple[str, str], ComponentSeries]:
    """(split, component) -> its series in `run`; empty without per-rollout components."""
    t = signals.component_splits
    if t is None or t.num_rows == 0:
        return {}
    t = t.filter(pc.equal(t["run"], run))
    out = {}
    for split, component in sorted(
        {(r["split"], r["component"]) for r in t.select(["split", "component"]).to_pylist()}
    ):
        s = t.filter(pc.and_(pc.equal(t["split"], split), pc.equal(t["component"], component))).sort_by(
            "step"
        )
        varied = _floats(s["varied"]) if "varied" in s.column_names else None
        n_groups = _floats(s["n_groups"]) if "n_groups" in s.column_names else None
        out[(split, component)] = ComponentSeries(
            run,
            split,
            component,
            s["step"].to_numpy(),
            _floats(s["earned"]),
            _floats(s["n"]),
            varied,
            n_groups,
        )
    return out


def _floats(col: pa.ChunkedArray) -> np.ndarray:
    return col.to_numpy(zero_copy_only=False).astype(float)


def run_components(signals: Signals) -> dict[str, set[str]]:
    """Each run's reward components (those its rollouts log)."""
    t = signals.component_splits
    out: dict[str, set[str]] = {run: set() for run in signals.runs}
    if t is not None:
        for r in t.select(["run", "component"]).to_pylist():
            out.setdefault(r["run"], set()).add(r["component"])
    return out


def added_components(signals: Signals) -> list[tuple[str, str, str]]:
    """(run_without, run_with, component) for each component one run logs and another does not."""
    comps = run_components(signals)
    return [(a, b, c) for a, b in permutations(signals.runs, 2) for c in sorted(comps[b] - comps[a])]


def signal_rate(signals: Signals, run: str, component: str) -> float:
    """Share of `run`'s GRPO groups (all splits) in which `component` was paid unequally, i.e. changed
    an advantage. 0: the component was paid alike to every group (a constant bonus, or one never paid),
    so the configuration that adds it trains exactly as the one without it. NaN when not known."""
    series = [v for (_, c), v in component_series(signals, run).items() if c == component]
    known = [v for v in series if v.varied is not None and v.n_groups is not None]
    if not known:
        return float("nan")
    varied = np.concatenate([v.varied for v in known])
    n_groups = np.concatenate([v.n_groups for v in known])
    return weighted_mean(varied, n_groups)


def attainable_share(signals: Signals, run: str) -> float:
    """How much of what its own configuration pays `run` earns over its last half: the sum of its
    components' means over the sum of the most any rollout of the store was paid for each. NaN without
    components. A run earning 1.0 of a possible 1.5 is at 0.67, not at its ceiling."""
    t = signals.components
    if t.num_rows == 0 or "max" not in t.column_names:
        return float("nan")
    best = {
        r["component"]: r["max_max"] for r in t.group_by("component").aggregate([("max", "max")]).to_pylist()
    }
    mine = t.filter(pc.equal(t["run"], run))
    if mine.num_rows == 0:
        return float("nan")
    steps = np.unique(mine["step"].to_numpy())
    late = mine.filter(pc.greater_equal(mine["step"], int(steps[len(steps) // 2])))
    means = {
        r["component"]: r["mean_mean"]
        for r in late.group_by("component").aggregate([("mean", "mean")]).to_pylist()
    }
    top = sum(best[c] for c in means if best[c] is not None and best[c] > 0)
    return float(sum(v for v in means.values() if v is not None) / top) if top > 0 else float("nan")
