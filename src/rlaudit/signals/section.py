"""The signals as JSON: `sections.signals` of a monitor judgement (what the terminal summary, the HTML
report and `--json` readers see of the step table).

The per-step series are made from whole Arrow columns, never value by value (a long run has millions
of values), and are bounded in length: a series longer than `max_points` keeps every k-th step (k the
smallest stride that fits) and always its last step. Why: at 10M rollouts logged over 312,500 steps per
run the full series were ~100M Python values (several GB, more than everything else the monitor
holds) for a JSON no plot or reader can use at that resolution; the detectors always read the full
step table, so thinning changes no finding. A run under `max_points` steps (every shipped example,
organism and test run) is written exactly as before.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rlaudit.jsonsafe import SafeList, column_values
from rlaudit.signals.compute import Signals
from rlaudit.signals.registry import signal_columns, step_columns

SERIES_POINTS = 5_000
"""Default most points per series in the JSON (`rlaudit monitor --series-points`): a plot a few
thousand pixels wide shows no more; 1M rollouts over 31,250 steps per run wrote 42 MB of JSON in full,
about 7 MB at this bound."""


def signals_section(signals: Signals, max_points: int | None = SERIES_POINTS) -> dict[str, Any]:
    """`sections.signals` of a judgement: the step signals as `{run: {split: {condition: {"step": [...],
    <column>: [...]}}}}` (sorted by step), reward components per run, prompt families, and what the
    data could support. The series are JSON-ready (`rlaudit.jsonsafe.SafeList`: NaN -> None).

    `max_points` (None or 0: every step): a longer series keeps every k-th of its steps and its last;
    then `series_stride` gives k per run, split and condition (absent when nothing was thinned)."""
    steps: dict[str, Any] = {}
    strides: dict[str, Any] = {}
    t = signals.steps
    columns = [c for c in step_columns() if c in t.column_names]
    if t.num_rows:
        t = t.sort_by([(c, "ascending") for c in ("run", "split", "condition", "step")])
        keys = ("run", "split", "condition")
        segments = _segments(t, keys)
        rows, kept, stride_of = _thin(segments, max_points)
        if len(rows) < t.num_rows:
            t = t.take(pa.array(rows))
        values = {c: column_values(t[c]) for c in columns}
        values["step"] = column_values(pc.cast(t["step"], pa.int64()))
        for (start, end), stride in zip(kept, stride_of, strict=True):
            run, split, condition = (str(t[k][start].as_py()) for k in keys)
            by_split = steps.setdefault(run, {}).setdefault(split, {})
            by_split[condition] = {c: SafeList(values[c][start:end]) for c in ("step", *columns)}
            if stride > 1:
                strides.setdefault(run, {}).setdefault(split, {})[condition] = stride
    components: dict[str, Any] = {}
    comp = signals.components
    if comp.num_rows and {"run", "step", "component", "mean"} <= set(comp.column_names):
        comp = comp.sort_by([("step", "ascending")])
        codes = _codes(comp, ("run", "component"))
        order = np.argsort(codes, kind="stable")  # rows of one (run, component) together, by step
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for rows_of in sorted(np.split(order, bounds), key=lambda r: int(r[0])):  # as first seen by step
            run, component = str(comp["run"][rows_of[0]].as_py()), str(comp["component"][rows_of[0]].as_py())
            picked, _, _ = _thin([(0, len(rows_of))], max_points)
            part = comp.take(pa.array(rows_of[picked]))
            components.setdefault(run, {})[component] = {
                "step": column_values(pc.cast(part["step"], pa.int64())),
                "mean": column_values(part["mean"]),
            }
    unlabelled = {run for run in signals.runs if not signals.is_labelled(run)}
    families = [r for r in signals.families.to_pylist() if r.get("run") in unlabelled]
    out = {
        "runs": list(signals.runs),
        "labelled": signals.labelled,
        "success_known": signals.success_known,
        "metrics_only": signals.metrics_only,
        "columns": {c: meta for c, meta in signal_columns().items() if c in columns},
        "steps": steps,
        "components": components,
        "families": [] if signals.metrics_only else families,
    }
    if strides:
        out["series_stride"] = strides
    return out


def _thin(
    segments: Sequence[tuple[int, int]], max_points: int | None
) -> tuple[np.ndarray, list[tuple[int, int]], list[int]]:
    """The rows to keep of consecutive `segments` (each a series): every k-th row of a segment longer
    than `max_points` (k the smallest stride that fits) and its last; returns the kept row indices, the
    segments' bounds among them and each segment's stride."""
    parts, kept, strides, at = [], [], [], 0
    for start, end in segments:
        n = end - start
        stride = math.ceil(n / max_points) if max_points and n > max_points else 1
        rows = np.arange(start, end, stride, dtype=np.int64)
        if rows[-1] != end - 1:
            rows = np.append(rows, end - 1)
        parts.append(rows)
        kept.append((at, at + len(rows)))
        strides.append(stride)
        at += len(rows)
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)), kept, strides


def _codes(t: pa.Table, keys: Sequence[str]) -> np.ndarray:
    """One integer per row that is equal exactly where the rows agree on every key (null included)."""
    codes = np.zeros(t.num_rows, dtype=np.int64)
    for k in keys:
        encoded = pc.dictionary_encode(t[k], null_encoding="encode").combine_chunks()
        codes = codes * (len(encoded.dictionary) + 1) + encoded.indices.to_numpy()
    return codes


def _segments(t: pa.Table, keys: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of each run of consecutive rows of `t` with the same keys."""
    cuts = [0, *(np.flatnonzero(np.diff(_codes(t, keys))) + 1).tolist(), t.num_rows]
    return list(itertools.pairwise(cuts))
