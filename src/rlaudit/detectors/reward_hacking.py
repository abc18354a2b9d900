"""The classic reward-hacking signatures users expect from peer monitors, tuned not to alarm on
honest runs.

- `length_drift`: mean completion length moves by at least `min_relative_change` between the first
  and last windows of the run with a monotone trend (Spearman test). Lengths grow in honest reasoning
  runs too, so this is LOW: worth a look, never a verdict.
- `reward_component_dominance`: of the total reward *gained* over the run, one component accounts for
  at least `min_gain_share` while another component that varies stays flat: the policy learns the
  easy part (format, length) and not the rest. A run with a single reward (only correctness) never
  fires, nor does a component that is constant: the failure modes of "one component dominates the
  total" checks on plain correctness runs. LOW.

Window: a length drift's `steps` are the longest stretch where the length is at least
`min_relative_change` away from the first window's mean (in the direction of the drift); a dominance
finding spans the run's components (`signal` "components": the reward-components plot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
from scipy import stats

from rlaudit.detectors.registry import detector
from rlaudit.detectors.trend import stretch, window_means
from rlaudit.findings import Finding, Severity
from rlaudit.signals import COMPONENTS, Signals


@dataclass
class LengthDriftConfig:
    window_frac: float = 0.2
    """First and last windows compared: this fraction of the run's steps each."""
    min_relative_change: float = 0.5
    """The last-window mean length is at least 1.5x (or at most 0.5x) the first."""
    alpha: float = 0.01
    """Spearman test level for a monotone length trend."""
    min_steps: int = 5
    window_bridge: int = 1
    """Steps back inside the band that a finding's window carries across."""


@dataclass
class ComponentDominanceConfig:
    window_frac: float = 0.2
    """First and last windows compared: this fraction of the run's steps each."""
    min_steps: int = 5
    min_total_gain: float = 0.1
    """The summed component gain must be at least this (in reward units)."""
    min_gain_share: float = 0.9
    flat_gain: float = 0.02
    """A component (that varies at all) is flat when its gain is at most this in absolute value."""


@detector("length_drift", config=LengthDriftConfig, signals=("length_mean",))
def detect_length_drift(signals: Signals, cfg: LengthDriftConfig) -> list[Finding]:
    """Mean completion length moving monotonically by half or more over the run (LOW)."""
    out = []
    for run in signals.runs:
        for split in signals.splits(run):
            steps, length = signals.series("length_mean", run=run, split=split)
            ok = np.isfinite(length)
            steps, length = steps[ok], length[ok]
            if len(steps) < cfg.min_steps or np.ptp(length) == 0:
                continue
            first, last = window_means(length, cfg.window_frac)
            if first <= 0:
                continue
            change = last / first - 1
            rho, p = stats.spearmanr(steps, length)
            if abs(change) >= cfg.min_relative_change and p < cfg.alpha:
                drifted = (length / first - 1) * np.sign(change) >= cfg.min_relative_change
                window = stretch(steps, drifted, bridge=cfg.window_bridge)
                out.append(
                    Finding(
                        "length_drift",
                        Severity.LOW,
                        min(1.0, abs(change) / 4),
                        f"Completion length on '{split}' went from {first:.1f} to {last:.1f} ({change:+.0%}, "
                        f"Spearman rho {rho:+.2f}): check the reward does not pay for length.",
                        window or (int(steps.min()), int(steps.max())),
                        split,
                        {
                            "first_window": first,
                            "last_window": last,
                            "relative_change": change,
                            "rho": rho,
                            "p": p,
                        },
                    )
                )
    return out


@detector("reward_component_dominance", config=ComponentDominanceConfig)
def detect_reward_dominance(signals: Signals, cfg: ComponentDominanceConfig) -> list[Finding]:
    """One reward component carrying the run's reward gain while another stays flat (LOW)."""
    out: list[Finding] = []
    t = signals.components
    if t.num_rows == 0:
        return out
    for run in signals.runs:
        rt = t.filter(pc.equal(t["run"], run))
        names = sorted(set(rt.column("component").to_pylist()))
        if len(names) < 2:
            continue
        gains = {}
        for name in names:
            ct = rt.filter(pc.equal(rt["component"], name)).sort_by("step")
            y = ct.column("mean").to_numpy(zero_copy_only=False).astype(float)
            if len(y) < cfg.min_steps or np.nanstd(y) == 0:
                continue
            first, last = window_means(y, cfg.window_frac)
            gains[name] = last - first
        total = sum(g for g in gains.values() if g > 0)
        if len(gains) < 2 or total < cfg.min_total_gain:
            continue
        top = max(gains, key=lambda k: gains[k])
        flat = [k for k in gains if k != top and abs(gains[k]) <= cfg.flat_gain]
        if gains[top] / total >= cfg.min_gain_share and flat:
            steps = rt.column("step").to_numpy()
            out.append(
                Finding(
                    "reward_component_dominance",
                    Severity.LOW,
                    min(1.0, gains[top] / total - 0.5),
                    f"Reward component '{top}' accounts for {gains[top] / total:.0%} of the reward gained while "
                    f"{', '.join(repr(k) for k in flat)} stayed flat: the policy learns one part of the reward.",
                    (int(steps.min()), int(steps.max())),
                    None,
                    {"gains": gains},
                    signal=COMPONENTS,
                )
            )
    return out
