"""Exploration signals: per-step aggregates of the rollouts, computed in DuckDB SQL.

`compute_signals(store) -> Signals` makes two passes over the store (`compute`): one row per GRPO group,
then per run x step x split x condition (and pooled over conditions, `condition = '*'`). Every step
signal is declared once, by name, as a `SignalSpec` in the registry `SIGNALS` (`registry`); the SQL,
`STEP_COLUMNS`, `signal_columns()` and docs/metrics.md are generated from it. What each signal means,
its unit and its TRL name: see docs/metrics.md (`python scripts/metrics_doc.py` writes it).

A detector that needs a new aggregate registers it in its own module with `register_signal`; it is
computed when that module was imported before `compute_signals` ran (importing `rlaudit.detectors`
imports every detector module).
"""

from __future__ import annotations

from typing import Any

from rlaudit.signals.compute import MEMORY_ENV, Signals, SignalsConfig, SignalsMemoryError, compute_signals
from rlaudit.signals.registry import (
    COMPONENTS,
    GROUP_COLUMNS,
    HELPERS,
    KEYS,
    PASS_AT_K,
    POOLED,
    SIGNALS,
    UNLABELLED,
    SignalSpec,
    metrics_markdown,
    register_signal,
    signal_columns,
    step_columns,
)


def __getattr__(name: str) -> Any:
    # STEP_COLUMNS follows the registry: a detector module may register a signal after this one loads.
    if name == "STEP_COLUMNS":
        return step_columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMPONENTS",
    "GROUP_COLUMNS",
    "HELPERS",
    "KEYS",
    "MEMORY_ENV",
    "PASS_AT_K",
    "POOLED",
    "SIGNALS",
    "STEP_COLUMNS",
    "UNLABELLED",
    "SignalSpec",
    "Signals",
    "SignalsConfig",
    "SignalsMemoryError",
    "compute_signals",
    "metrics_markdown",
    "register_signal",
    "signal_columns",
    "step_columns",
]
