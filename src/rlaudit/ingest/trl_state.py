"""TRL `trainer_state.json` without rollouts: per-step metrics only (`METRICS_SCHEMA`).

A TRL output_dir (or one `checkpoint-NNN` folder) always has `trainer_state.json`; its `log_history`
holds what GRPOTrainer logged every `logging_steps`: `reward`, `reward_std`, `frac_reward_zero_std`,
`entropy`, `completions/mean_length` and `rewards/<fn>/mean` per reward function. That is enough for
the step-level signals, not for anything that needs the rollouts themselves.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rlaudit.records import METRICS_SCHEMA, RecordError, RolloutStore

if TYPE_CHECKING:
    from rlaudit.ingest import IngestResult

STATE_FILE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_COMPONENT = re.compile(r"^rewards/(.+)/mean$")
# METRICS_SCHEMA column <- log_history key
_METRIC_KEYS = {
    "reward_mean": "reward",
    "reward_std": "reward_std",
    "frac_zero_std": "frac_reward_zero_std",
    "entropy": "entropy",
    "length_mean": "completions/mean_length",
}

METRICS_ONLY_NOTE = (
    "metrics only (TRL trainer_state.json, no rollouts): the per-step reward mean/std, fraction of "
    "zero-std groups, entropy, completion length and reward components can be checked; what needs the "
    "rollouts cannot: the per-group all-fail vs all-pass split, within-group diversity of completions, "
    "the target/control split, and sample completions. Log rollouts with "
    "GRPOConfig(log_completions=True) for the full audit."
)


def find_trainer_state(path: Path) -> Path | None:
    """`path/trainer_state.json`, else the one in the `checkpoint-N` subfolder with the largest N."""
    if path.is_file():
        return path
    top = path / STATE_FILE
    if top.is_file():
        return top
    checkpoints = [
        (int(m.group(1)), d)
        for d in path.iterdir()
        if (m := _CHECKPOINT.match(d.name)) and (d / STATE_FILE).is_file()
    ]
    return max(checkpoints)[1] / STATE_FILE if checkpoints else None


def run_dir(state_file: Path) -> Path:
    """The output_dir a trainer_state.json belongs to (the parent of a checkpoint-N folder)."""
    parent = state_file.parent
    return parent.parent if _CHECKPOINT.match(parent.name) else parent


def load_log_history(state_file: Path) -> list[dict[str, Any]]:
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordError(f"{state_file}: not a valid trainer_state.json ({e})") from None
    except RecursionError:  # Python's parser recurses per level; no trainer state nests this deep
        raise RecordError(f"{state_file}: nested too deeply to be a trainer_state.json") from None
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        raise RecordError(f"{state_file}: no 'log_history' list (is this a transformers trainer_state.json?)")
    return history


def reward_function_names(history: list[dict[str, Any]]) -> list[str]:
    """Reward function names from the `rewards/<fn>/mean` keys, in order of first appearance."""
    names: dict[str, None] = {}
    for entry in history:
        if isinstance(entry, dict):
            for key in entry:
                if m := _COMPONENT.match(key):
                    names[m.group(1)] = None
    return list(names)


def ingest_trl_state(path: Path, store: RolloutStore, *, run: str | None, result: IngestResult) -> None:
    """Store the per-step metrics of a TRL run that logged no rollouts."""
    state_file = find_trainer_state(path)
    if state_file is None:
        raise RecordError(f"{path}: no trainer_state.json (looked in it and in its checkpoint-* folders)")
    run = run or run_dir(state_file).name
    result.metrics_only = True
    result.notes.append(METRICS_ONLY_NOTE)
    if store.plan(state_file) is None:
        result.files_skipped += 1
        return
    table = metrics_table(state_file, run=run)
    # A later checkpoint's log_history repeats the earlier ones: keep only steps not stored yet.
    con = store.connect()
    try:
        stored = {
            r[0] for r in con.execute("SELECT DISTINCT step FROM metrics WHERE run = ?", [run]).fetchall()
        }
    finally:
        con.close()
    if stored:
        keep = [s not in stored for s in table.column("step").to_pylist()]
        table = table.filter(pa.array(keep))
    result.rows_added += store.append_metrics(table, path=state_file)


def metrics_table(state_file: Path, *, run: str) -> pa.Table:
    """One METRICS_SCHEMA row per `log_history` entry that has a `reward` (training logs, not eval)."""
    history = load_log_history(state_file)
    cols: dict[str, list[Any]] = {name: [] for name in METRICS_SCHEMA.names}
    for i, entry in enumerate(history):
        if not isinstance(entry, dict) or "reward" not in entry:
            continue
        where = f"{state_file}: log_history[{i}]"
        step = entry.get("step")
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if not isinstance(step, int) or isinstance(step, bool):
            raise RecordError(f"{where}: field 'step' must be an integer, got {json.dumps(step)}")
        if not -(2**63) <= step < 2**63:
            raise RecordError(f"{where}: field 'step' is out of the 64-bit integer range")
        cols["run"].append(run)
        cols["step"].append(step)
        for column, key in _METRIC_KEYS.items():
            cols[column].append(_number(entry.get(key), where, key))
        components = {}
        for key, value in entry.items():
            if (m := _COMPONENT.match(key)) and (v := _number(value, where, key)) is not None:
                components[m.group(1)] = v
        cols["components"].append(components)
        cols["source"].append(str(state_file))
    if not cols["step"]:
        raise RecordError(
            f"{state_file}: no log_history entry has a 'reward' (not a GRPO run, or it logged no training step)"
        )
    return pa.table(cols, schema=METRICS_SCHEMA)


def _number(value: Any, where: str, key: str) -> float | None:
    """A logged metric: a finite-or-NaN number, or None (TRL logs None when every value was NaN)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{where}: field '{key}' must be a number, got {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise RecordError(f"{where}: field '{key}' is out of the float64 range") from None
    if math.isinf(number):
        raise RecordError(f"{where}: field '{key}' is infinite")
    return number
