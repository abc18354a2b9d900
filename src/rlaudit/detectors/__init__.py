"""Detectors: pure functions `signals -> list[Finding]`, one module per detector.

| detector | module | signal |
|---|---|---|
| exploration_starvation | `starvation` | zero-variance groups, all-fail vs all-pass, vs chance |
| diversity_collapse | `diversity` | change point in within-group diversity / entropy |
| selective_underperformance | `selective` | target vs control performance slopes (bootstrap CI) |
| cue_gap | `cue_gap` | the same split under a training cue vs a deployment cue (Fisher's exact test) |
| reward_config_invariance | `invariance` | several runs: completion distributions and curves |
| length_drift, reward_component_dominance | `reward_hacking` | classic reward-hacking signatures |

`run_detectors` runs them all; a detector that raises becomes an INFO finding saying so (a monitor
must never die of its own bug), and metrics-only inputs get a finding listing what was not checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from rlaudit.detectors.cue_gap import CueGapConfig, detect_cue_gap
from rlaudit.detectors.diversity import DiversityConfig, detect_diversity_collapse
from rlaudit.detectors.invariance import InvarianceConfig, detect_reward_config_invariance
from rlaudit.detectors.reward_hacking import RewardHackingConfig, detect_length_drift, detect_reward_dominance
from rlaudit.detectors.selective import SelectiveConfig, detect_selective_underperformance
from rlaudit.detectors.starvation import StarvationConfig, detect_starvation
from rlaudit.findings import Finding, Severity
from rlaudit.signals import Signals


@dataclass
class DetectorConfig:
    """One config per detector; `enabled` selects which run (default: all)."""

    starvation: StarvationConfig = field(default_factory=StarvationConfig)
    diversity: DiversityConfig = field(default_factory=DiversityConfig)
    selective: SelectiveConfig = field(default_factory=SelectiveConfig)
    cue_gap: CueGapConfig = field(default_factory=CueGapConfig)
    invariance: InvarianceConfig = field(default_factory=InvarianceConfig)
    reward_hacking: RewardHackingConfig = field(default_factory=RewardHackingConfig)
    enabled: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.enabled is not None:
            unknown = set(self.enabled) - set(DETECTORS)
            if unknown:
                raise ValueError(f"unknown detector(s) {sorted(unknown)}; choose from {sorted(DETECTORS)}")


DETECTORS: dict[str, Callable[[Signals, DetectorConfig], list[Finding]]] = {
    "exploration_starvation": lambda s, c: detect_starvation(s, c.starvation),
    "diversity_collapse": lambda s, c: detect_diversity_collapse(s, c.diversity),
    "selective_underperformance": lambda s, c: detect_selective_underperformance(s, c.selective),
    "cue_gap": lambda s, c: detect_cue_gap(s, c.cue_gap),
    "reward_config_invariance": lambda s, c: detect_reward_config_invariance(s, c.invariance),
    "length_drift": lambda s, c: detect_length_drift(s, c.reward_hacking),
    "reward_component_dominance": lambda s, c: detect_reward_dominance(s, c.reward_hacking),
}

METRICS_ONLY_GAPS = (
    "all-fail vs all-pass groups (starvation is judged from frac_reward_zero_std alone)",
    "within-group diversity of completions",
    "target vs control comparison (selective underperformance)",
    "completion distributions across runs (reward-configuration invariance)",
)


def run_detectors(signals: Signals, cfg: DetectorConfig | None = None) -> list[Finding]:
    """All enabled detectors over `signals`, most severe findings first."""
    cfg = cfg or DetectorConfig()
    findings: list[Finding] = []
    for name, detect in DETECTORS.items():
        if cfg.enabled is not None and name not in cfg.enabled:
            continue
        try:
            findings += detect(signals, cfg)
        except Exception as e:  # fail open: report, never crash the caller (or a training run)
            findings.append(
                Finding(
                    name, Severity.INFO, math.nan, f"detector failed and was skipped: {type(e).__name__}: {e}"
                )
            )
    if signals.metrics_only:
        findings.append(
            Finding(
                "coverage",
                Severity.INFO,
                math.nan,
                "Metrics-only input (no rollouts): a weaker verdict. Not checked: "
                + "; ".join(METRICS_ONLY_GAPS)
                + ".",
                evidence={"not_checked": list(METRICS_ONLY_GAPS)},
            )
        )
    return sorted(findings, key=lambda f: (-f.severity, -(0 if math.isnan(f.score) else f.score)))
