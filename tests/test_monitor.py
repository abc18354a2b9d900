"""`signals_section`, made from whole Arrow columns, gives the JSON the per-row version gave, and thins long
series to a bounded number of points."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa

from rlaudit.ingest import ingest
from rlaudit.jsonsafe import json_safe
from rlaudit.monitor import signals_section
from rlaudit.records import RolloutStore
from rlaudit.signals import Signals, compute_signals, signal_columns, step_columns
from rlaudit.synthetic import HONEST, INCAPABLE, LOCKED, synthetic_rollouts, with_component, write_jsonl


def per_row_section(signals: Signals) -> dict[str, Any]:
    """The section as it was built before issue 13: row by row, then `json_safe` value by value."""
    steps: dict[str, Any] = {}
    t = signals.steps
    columns = [c for c in step_columns() if c in t.column_names]
    if t.num_rows:
        data = t.sort_by([(c, "ascending") for c in ("run", "split", "condition", "step")]).to_pydict()
        for i in range(t.num_rows):
            by_split = steps.setdefault(str(data["run"][i]), {}).setdefault(str(data["split"][i]), {})
            series = by_split.setdefault(str(data["condition"][i]), {"step": [], **{c: [] for c in columns}})
            series["step"].append(int(data["step"][i]))
            for c in columns:
                series[c].append(data[c][i])
    components: dict[str, Any] = {}
    comp = signals.components
    if comp.num_rows and {"run", "step", "component", "mean"} <= set(comp.column_names):
        for row in comp.sort_by([("step", "ascending")]).to_pylist():
            series = components.setdefault(str(row["run"]), {}).setdefault(
                str(row["component"]), {"step": [], "mean": []}
            )
            series["step"].append(int(row["step"]))
            series["mean"].append(row["mean"])
    unlabelled = {run for run in signals.runs if not signals.is_labelled(run)}
    families = [r for r in signals.families.to_pylist() if r.get("run") in unlabelled]
    return {
        "runs": list(signals.runs),
        "labelled": signals.labelled,
        "success_known": signals.success_known,
        "metrics_only": signals.metrics_only,
        "columns": {c: meta for c, meta in signal_columns().items() if c in columns},
        "steps": steps,
        "components": components,
        "families": [] if signals.metrics_only else families,
    }


def signals_of(tmp_path: Path, tables: dict[str, pa.Table]) -> Signals:
    store = RolloutStore(tmp_path / "store")
    for run, table in tables.items():
        path = tmp_path / f"{run}.jsonl"
        write_jsonl(table, str(path))
        ingest(path, store)
    return compute_signals(store)


def same_json(signals: Signals) -> None:
    got = json.dumps(json_safe(signals_section(signals)), allow_nan=False)
    assert got == json.dumps(json_safe(per_row_section(signals)), allow_nan=False)


def test_runs_with_cues_and_reward_components(tmp_path: Path) -> None:
    """Two runs (keys sorted, runs interleaved by step), conditions, NaN signals (entropy is never
    logged; all-fail steps have undefined ratios) and reward components first seen at different steps."""
    a = synthetic_rollouts({"target": LOCKED, "control": HONEST}, run="b-run", n_steps=12, seed=1)
    cue = pa.array(["train_cue", "deploy_cue"] * (a.num_rows // 2))
    a = with_component(a.append_column("condition", cue), "format", {"target": (0.0, 0.9)}, seed=2)
    b = synthetic_rollouts({"target": INCAPABLE, "control": HONEST}, run="a-run", n_steps=9, first_step=3)
    signals = signals_of(tmp_path, {"a": a, "b": b})
    assert signals.components.num_rows and len(signals.runs) == 2
    assert None in signals.steps["entropy"].to_pylist()
    same_json(signals)
    # DuckDB gives null for an undefined signal; a NaN or inf from elsewhere is null in the JSON too.
    t = signals.steps
    i = t.column_names.index("pass_rate")
    poked = [
        math.nan if k % 3 == 0 else math.inf if k % 5 == 0 else v for k, v in enumerate(t[i].to_pylist())
    ]
    same_json(dataclasses.replace(signals, steps=t.set_column(i, "pass_rate", pa.array(poked, pa.float64()))))


def test_an_unlabelled_run(tmp_path: Path) -> None:
    table = synthetic_rollouts({"target": LOCKED, "control": HONEST}, labelled=False, n_steps=8)
    same_json(signals_of(tmp_path, {"u": table}))


def test_long_series_are_thinned_to_every_kth_step_and_the_last(tmp_path: Path) -> None:
    """Past `max_points` steps a series keeps every k-th step and its last, with the values of the
    full series at those steps; at or under it the section is the full one (no `series_stride`)."""
    a = synthetic_rollouts({"target": LOCKED, "control": HONEST}, run="r", n_steps=23, seed=3)
    a = with_component(a, "format", {"target": (0.0, 0.9)}, seed=4)
    signals = signals_of(tmp_path, {"a": a})
    full = json_safe(signals_section(signals, None))
    assert json_safe(signals_section(signals, 23)) == full
    assert "series_stride" not in full
    thin = json_safe(signals_section(signals, 5))
    for split, by_condition in thin["steps"]["r"].items():
        for condition, series in by_condition.items():
            whole = full["steps"]["r"][split][condition]
            assert thin["series_stride"]["r"][split][condition] == 5  # ceil(23 / 5)
            assert series["step"] == whole["step"][::5] + whole["step"][-1:]  # rows 0, 5, ..., 20, 22
            at = [whole["step"].index(s) for s in series["step"]]
            for column, values in series.items():
                assert values == [whole[column][i] for i in at]
    comp, whole_comp = thin["components"]["r"]["format"], full["components"]["r"]["format"]
    assert comp["step"] == whole_comp["step"][::5] + whole_comp["step"][-1:]
