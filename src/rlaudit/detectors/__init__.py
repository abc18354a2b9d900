"""Detectors: pure functions `signals -> list[Finding]`, one module per detector, found by a registry.

| detector | module | signal |
|---|---|---|
| exploration_starvation | `starvation` | zero-variance groups, all-fail vs all-pass, vs chance |
| diversity_collapse | `diversity` | change point in within-group diversity / entropy |
| selective_underperformance | `selective` | target vs control performance slopes (bootstrap CI) |
| cue_gap | `cue_gap` | the same split under a training cue vs a deployment cue (Fisher's exact test) |
| reward_config_invariance | `invariance` | several runs: completion distributions and curves |
| length_drift, reward_component_dominance | `reward_hacking` | classic reward-hacking signatures |
| probe_score_rise | `probe_score` | the live probe's target-split score rising, or above control's |

Each module registers its detectors where they are defined (`@detector(name, config=..., signals=...)`,
`rlaudit.detectors.registry`); importing this package imports every module of it (`discover`), so a new
detector is one new module and its test (docs/architecture.md, "Adding a detector"). `arms` (what is
compared: splits, or prompt families without labels) and `trend` (slopes, bootstrap, step windows) are
shared helpers.

`run_detectors` runs them all; a detector that raises becomes an INFO finding saying so (a monitor
must never die of its own bug), and metrics-only inputs get a finding listing what was not checked.
"""

from __future__ import annotations

import sys

from rlaudit.detectors.registry import (
    DETECTORS,
    METRICS_ONLY_GAPS,
    Detector,
    DetectorConfig,
    NoConfig,
    detector,
    register_detector,
    run_detectors,
)
from rlaudit.discovery import discover

discover(sys.modules[__name__])

__all__ = [
    "DETECTORS",
    "METRICS_ONLY_GAPS",
    "Detector",
    "DetectorConfig",
    "NoConfig",
    "detector",
    "discover",
    "register_detector",
    "run_detectors",
]
