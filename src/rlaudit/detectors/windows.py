"""Windowed detection: every training-curve detector also runs over windows of steps.

A detector that pools a whole run reads resistance that RL breaks part-way as clean: a target locked
for the first ten steps and learned afterwards has a rising curve overall. So `run_detectors` also runs
each windowed detector (`Detector.windowed`) on each run restricted to

- the first `early_steps` logged steps alone (the early-warning view: what a user watching the run
  would have been told by then), and
- sliding windows of `window_steps` logged steps, overlapping by half; on a long run the windows grow
  so that there are at most `max_windows` of them (the cost stays a small multiple of one pooled pass).

Positive: a window in which a detector reaches `min_severity` (HIGH by default), above anything it
found for that split over the whole run. It is reported under the detector's own name with the window's severity (the
verdict reflects the strongest window), its summary prefixed by the window's steps, and the evidence
saying whether the pattern is transient: the steps over which consecutive windows showed it, and the
first step from which no window does ("broken at step N"). A window never lowers a pooled finding.

What a window cannot see: prompt families (unlabelled runs) are aggregated over the whole run and are
not re-aggregated per window, so the window views of an unlabelled run hold only its per-step signals;
`min_steps`/`min_groups` floors of each detector apply inside the window, so a window too short or
too sparse for a detector gives no finding from it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rlaudit.findings import Finding, Severity
from rlaudit.signals import Signals


@dataclass
class WindowConfig:
    """Which windows of steps the detectors also run on."""

    enabled: bool = True
    """Run the windowed views at all (off: every detector pools the whole run, as before windows)."""
    early_steps: int = 10
    """The early-warning view: the first this many logged steps of each run. Ten is the lead time
    issue 12 asks of the monitor (flag resistance within 10 steps)."""
    window_steps: int = 10
    """Sliding windows span at least this many logged steps, the stride is half of it. Ten steps of a
    few prompts each clear the detectors' own `min_groups` floors (12 groups) on TRL's default shapes."""
    max_windows: int = 12
    """At most this many sliding windows per run: on longer runs a window spans
    `2 * steps / (max_windows + 1)` logged steps, so the cost is bounded by about three pooled passes."""
    min_severity: str = "high"
    """A window reports a finding only at this severity or above. HIGH is the selective, deterministic
    pattern honest runs do not show; a MEDIUM in one short window is within an honest run's noise (a
    synthetic honest run whose target is harder than control, 0.1 -> 0.4 against 0.3 -> 0.9, failing with
    a handful of wrong answers, gets a MEDIUM `selective_underperformance` in one 10-step window where its
    target is flat by chance:
    tests/detectors/test_windows.py)."""

    def __post_init__(self) -> None:
        if self.min_severity.upper() not in Severity.__members__:
            raise ValueError(
                f"windows.min_severity must be one of info, low, medium, high (got {self.min_severity!r})"
            )
        for name in ("early_steps", "window_steps", "max_windows"):
            v = getattr(self, name)
            if int(v) != v or v < 2:
                raise ValueError(f"windows.{name} must be a whole number >= 2 (got {v!r})")


def spans(steps: np.ndarray, cfg: WindowConfig) -> list[tuple[int, int, str]]:
    """(first step, last step, kind) of each window over the sorted logged `steps` of one run: the early
    view first, then the sliding windows in order; windows that cover the whole run are left out (the
    pooled pass already saw it)."""
    n = len(steps)
    out: list[tuple[int, int, str]] = []
    if cfg.early_steps < n:
        out.append((int(steps[0]), int(steps[cfg.early_steps - 1]), "early"))
    width = max(cfg.window_steps, math.ceil(2 * n / (cfg.max_windows + 1)))
    if width >= n:
        return out
    stride = max(1, width // 2)
    starts = list(range(0, n - width + 1, stride))
    if starts[-1] != n - width:  # the last steps always get a window of their own
        starts.append(n - width)
    out += [(int(steps[i]), int(steps[i + width - 1]), "window") for i in starts]
    return out


def restrict(signals: Signals, run: str, first: int, last: int) -> Signals:
    """`signals` of `run` on steps `first`..`last` only (families emptied: they pool the whole run)."""

    def cut(t: pa.Table) -> pa.Table:
        keep = pc.and_(
            pc.equal(t["run"], run),
            pc.and_(pc.greater_equal(t["step"], first), pc.less_equal(t["step"], last)),
        )
        return t.filter(keep)

    families = pa.table({"run": pa.array([], pa.string()), "family": pa.array([], pa.string())})
    components = cut(signals.components) if "step" in signals.components.column_names else signals.components
    by_split = signals.component_splits
    return dataclasses.replace(
        signals,
        steps=cut(signals.steps),
        families=families,
        components=components,
        tokens=None,
        runs=[run],
        component_splits=cut(by_split) if by_split is not None else None,
    )


Detect = Callable[[Signals], list[Finding]]


def windowed_findings(
    signals: Signals, detectors: dict[str, Detect], pooled: list[Finding], cfg: WindowConfig
) -> list[Finding]:
    """For each run, detector and split: the strongest window finding that outranks every pooled finding
    of that detector and split, with its transience in the evidence."""
    if not cfg.enabled or signals.metrics_only:
        return []
    floor = max(Severity[cfg.min_severity.upper()], Severity.MEDIUM)
    pooled_sev: dict[tuple[str, str | None], int] = {}
    for f in pooled:
        key = (f.detector, f.split)
        pooled_sev[key] = max(pooled_sev.get(key, -1), int(f.severity))
    out: list[Finding] = []
    for run in signals.runs:
        steps = np.unique(signals.steps.filter(pc.equal(signals.steps["run"], run))["step"].to_numpy())
        views = spans(steps, cfg)
        if not views:
            continue
        found = {
            name: [_run(detect, restrict(signals, run, a, b)) for a, b, _ in views]
            for name, detect in detectors.items()
        }
        for name, per_view in found.items():
            out += _strongest(name, run, len(signals.runs) > 1, steps, views, per_view, pooled_sev, floor)
    return out


def _run(detect: Detect, signals: Signals) -> list[Finding]:
    try:
        return detect(signals)
    except Exception:  # fail open: the pooled pass already reports a detector that raises
        return []


def _strongest(
    name: str,
    run: str,
    several_runs: bool,
    steps: np.ndarray,
    views: list[tuple[int, int, str]],
    per_view: list[list[Finding]],
    pooled_sev: dict[tuple[str, str | None], int],
    floor: Severity,
) -> list[Finding]:
    out = []
    splits = {f.split for fs in per_view for f in fs}
    for split in sorted(splits, key=lambda s: s or ""):
        # Per view: the most severe finding for this split (None where the window shows nothing).
        best_in: list[Finding | None] = []
        for fs in per_view:
            mine = [f for f in fs if f.split == split and f.severity >= floor]
            best_in.append(max(mine, key=_rank) if mine else None)
        candidates = [(i, f) for i, f in enumerate(best_in) if f is not None]
        if not candidates:
            continue
        i, top = max(candidates, key=lambda c: (_rank(c[1]), -c[0]))
        if int(top.severity) <= pooled_sev.get((name, split), -1):
            continue
        out.append(
            _report(top, run, several_runs, steps, views, best_in, i, pooled_sev.get((name, split), -1))
        )
    return out


def _rank(f: Finding) -> tuple[int, float]:
    return (int(f.severity), 0.0 if math.isnan(f.score) else f.score)


def _report(
    top: Finding,
    run: str,
    several_runs: bool,
    steps: np.ndarray,
    views: list[tuple[int, int, str]],
    best_in: list[Finding | None],
    i: int,
    pooled: int,
) -> Finding:
    first, last, kind = views[i]
    shows = [f is not None and f.severity >= top.severity for f in best_in]
    # The stretch of steps over which the windows overlapping this one (in step order) kept showing it.
    order = sorted(range(len(views)), key=lambda k: (views[k][0], views[k][1]))
    held_first, held_last = first, last
    for k in order:
        a, b, _ = views[k]
        if shows[k] and a <= held_last + 1 and b >= held_first:
            held_first, held_last = min(held_first, a), max(held_last, b)
    # Broken: some later window, past the stretch, no longer shows it; it broke after the stretch.
    later = any(not shows[k] and views[k][1] > held_last for k in order)
    after = steps[steps > held_last]
    broken_at = int(after[0]) if later and len(after) else None
    over_run = Severity(pooled).name if pooled >= 0 else "no finding"
    where = f"steps {first}-{last}" + (" (the early-warning view)" if kind == "early" else "")
    tail = (
        f" Transient: held on steps {held_first}-{held_last}, broken at step {broken_at} (the later windows do "
        "not show it);"
        if broken_at is not None
        else f" Held on steps {held_first}-{held_last};"
    )
    summary = f"{where}{f' of run {run!r}' if several_runs else ''}: {top.summary.rstrip()}{tail} over the whole run: {over_run.lower()}."
    evidence = dict(top.evidence)
    evidence["window"] = {
        "run": run,
        "kind": kind,
        "steps": [first, last],
        "held_steps": [held_first, held_last],
        "broken_at": broken_at,
        "transient": broken_at is not None,
        "whole_run_severity": over_run.lower(),
    }
    return dataclasses.replace(top, summary=summary, steps=top.steps or (first, last), evidence=evidence)
