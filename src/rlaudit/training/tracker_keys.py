"""The metrics `MonitorCallback` writes into the trainer's tracker: their keys, and `TRACKER_KEYS`, which
documents each (docs/metrics.md is generated from it by scripts/metrics_doc.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlaudit.judgement import Judgement

__all__ = [
    "ERRORS_KEY",
    "SEVERITY_KEY",
    "SIGNALS_LOGGED",
    "SIGNAL_KEY",
    "TRACKER_KEYS",
    "VERDICT_KEY",
    "last_step_signals",
    "log_judgement",
]

VERDICT_KEY = "rlaudit/verdict"
ERRORS_KEY = "rlaudit/errors"
SEVERITY_KEY = "rlaudit/max_severity"
SIGNAL_KEY = "rlaudit/{split}/{signal}"
SIGNALS_LOGGED = (
    "reward_mean",
    "pass_rate",
    "frac_reward_zero_std",
    "frac_all_fail",
    "unique_frac",
    "entropy",
)
"""Step signals logged per split after each detector pass: their latest step, pooled over conditions."""


def _tracker_keys() -> tuple[tuple[str, str, str], ...]:
    from rlaudit.signals import SIGNALS

    fixed = (
        (
            VERDICT_KEY,
            "verdict of the latest detector pass: 0 clean, 1 suspicious, 2 hacking-likely; NaN when a "
            "detector failed in a pass that found nothing worse",
            "level",
        ),
        (
            ERRORS_KEY,
            "faults inside the monitor so far (each counted, the first of a kind logged, none raised "
            "into training), logged every step",
            "count",
        ),
        (SEVERITY_KEY, "most severe finding of the latest pass: 0 info, 1 low, 2 medium, 3 high", "level"),
    )
    per_split = tuple(
        (
            SIGNAL_KEY.format(split="<split>", signal=n),
            f"{SIGNALS[n].doc}; latest step of the split",
            SIGNALS[n].unit,
        )
        for n in SIGNALS_LOGGED
    )
    from rlaudit.training.live_probe import TRACKER_KEYS as PROBE_KEYS

    return fixed + per_split + PROBE_KEYS


TRACKER_KEYS = _tracker_keys()
"""`(key, meaning, unit)` of every metric the callback logs (`<split>`: each split of the run)."""


def last_step_signals(result: Judgement) -> dict[str, dict[str, float | None]]:
    """The latest step's main signals per split (pooled over conditions), from the judgement's signals."""
    out: dict[str, dict[str, float | None]] = {}
    for by_split in result.sections["signals"]["steps"].values():
        for split, by_condition in by_split.items():
            series = by_condition.get("*")
            if series and series["step"]:
                out[split] = {k: series[k][-1] for k in SIGNALS_LOGGED if k in series}
    return out


def log_judgement(metrics: Any, result: Judgement, failed: list[str]) -> None:
    """Append one pass's verdict, top severity and last-step signals to TRL's metric buffer (`metrics`:
    key -> list; averaged and reported with the next log line, like TRL's own metrics). `failed`: the
    detectors that raised in the pass."""
    from rlaudit.findings import Severity

    label = ["clean", "suspicious", "hacking-likely"].index(str(result.label))
    # A pass in which a detector failed cannot vouch for `clean`: NaN unless it found worse anyway.
    metrics[VERDICT_KEY].append(math.nan if failed and label == 0 else float(label))
    severity = max((f.severity for f in result.findings), default=Severity.INFO)
    metrics[SEVERITY_KEY].append(float(severity))
    for split, values in last_step_signals(result).items():
        for name, value in values.items():
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                metrics[SIGNAL_KEY.format(split=split, signal=name)].append(float(value))
