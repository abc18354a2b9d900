"""TRL GRPO completions log: `output_dir/completions/completions_{global_step:05d}.parquet`.

`GRPOConfig(log_completions=True)` makes `GRPOTrainer.log` write, at every logging step, the last
generation batch with the columns `step`, `prompt`, `completion`, one float column per reward
function (named after it, NaN where the function returned None), the `log_extra` columns of the
reward functions, and `advantage`. Prompts and completions are strings, or chat message lists
(`[{"role": ..., "content": ...}]`) for conversational datasets.

Mapping onto the rollout record:

- `prompt`: the string, or the compact JSON of the message list (so one prompt is one string);
- `completion`: the string, the assistant's content for a one-message list, else the JSON;
- `reward`: the sum of the reward columns (weighted with `reward_weights`), NaN ignored like TRL's
  `nansum`, NaN when every column is NaN; `rewards`: component name -> value;
- reward columns: the float columns that are not record fields; when the run's trainer_state.json
  is there, exactly the reward functions it logged as `rewards/<fn>/mean` (so a float `log_extra`
  column is not summed into the reward); without it, the columns whose sum reproduces the logged
  `advantage` column (`rlaudit.ingest.trl_rewards`), or every float column with a note saying it
  could not tell;
- `log_extra` columns named like record fields (split, condition, correct, answer, entropy, ...)
  fill those fields (`correct` may be 0/1); the others are kept in `extra`;
- group: the rows of one step sharing a prompt (the store's default), as TRL logs no group id.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rlaudit.ingest._common import Pending, append_all
from rlaudit.ingest.trl_rewards import infer
from rlaudit.ingest.trl_state import find_trainer_state, load_log_history, reward_function_names
from rlaudit.records import FIELDS, RecordError, RolloutStore

if TYPE_CHECKING:
    from rlaudit.ingest import IngestResult

GLOB = "completions_*.parquet"
SAMPLE_FILES = 20
"""Completions files read to tell reward columns from extras when there is no trainer_state.json."""
_STEP_IN_NAME = re.compile(r"completions_(\d+)\.parquet$")
# Float columns that are record fields, not reward functions. A reward function named `reward` or
# `rewards` is still a reward column: TRL itself never writes a total.
_NOT_REWARD = set(FIELDS) - {"reward", "rewards"}


def ingest_trl(
    path: Path,
    store: RolloutStore,
    *,
    run: str | None,
    reward_weights: dict[str, float] | None,
    result: IngestResult,
) -> None:
    """Ingest a TRL output_dir, its completions/ folder, or one completions parquet file.

    Every file is validated before any is stored; files already stored are skipped.
    """
    files, output_dir = _locate(path)
    run = run or output_dir.name
    reward_names = _logged_reward_functions(output_dir)
    named_by = "trainer_state.json"
    if reward_names is None:
        reward_names = _inferred_reward_functions(files, reward_weights, result)
        named_by = "the logged advantages"
    pending: list[Pending] = []
    repeats: list[str] = []
    empty: list[str] = []
    excluded: set[str] = set()
    previous: str | None = None
    for f in files:
        table = _read(f)
        # TRL writes its last generation batch at every logging step: when no new batch was
        # generated since the last log (num_iterations > 1, or steps_per_generation larger than
        # gradient_accumulation_steps), a file repeats the previous one under a new step.
        fingerprint = _fingerprint(table)
        repeat, previous = fingerprint == previous, fingerprint
        if store.plan(f) is None:
            result.files_skipped += 1
            continue
        if table.num_rows == 0 or repeat:
            (empty if table.num_rows == 0 else repeats).append(f.name)
            pending.append(Pending(f, "trl", list))  # recorded as stored, with no rows
            continue
        excluded |= set(_reward_columns(table, reward_names)[1])
        convert = partial(_convert, f, reward_names=reward_names, reward_weights=reward_weights)
        pending.append(Pending(f, "trl", convert, run=run))  # normalized with the rest of its batch
    append_all(store, pending, result)
    if repeats:
        result.notes.append(
            f"{len(repeats)} completions file(s) repeat the previous file's rollouts under a new step "
            f"(TRL re-logs its last generation batch when no new one was generated in between); "
            f"stored once: {_names(repeats)}"
        )
    if empty:
        result.notes.append(f"{len(empty)} completions file(s) have no rows: {_names(empty)}")
    if excluded:
        result.notes.append(
            f"float column(s) {', '.join(sorted(excluded))} are not reward functions by {named_by}: "
            "kept as extras, not summed into the reward"
        )


def _names(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _locate(path: Path) -> tuple[list[Path], Path]:
    """(completions files in step order, the run's output_dir)."""
    if path.is_file():
        return [path], path.parent.parent if path.parent.name == "completions" else path.parent
    if (path / "completions").is_dir() and not list(path.glob(GLOB)):
        folder, output_dir = path / "completions", path
    else:
        folder, output_dir = path, (path.parent if path.name == "completions" else path)
    files = sorted(folder.glob(GLOB), key=_step_of)
    if not files:
        raise RecordError(f"{folder}: no TRL completions files ({GLOB}; GRPOConfig(log_completions=True))")
    return files, output_dir


def _step_of(f: Path) -> tuple[int, str]:
    m = _STEP_IN_NAME.search(f.name)
    return (int(m.group(1)) if m else -1, f.name)


def _logged_reward_functions(output_dir: Path) -> set[str] | None:
    """Reward function names from the run's trainer_state.json, when there is a readable one."""
    try:
        state = find_trainer_state(output_dir) if output_dir.is_dir() else None
        names = reward_function_names(load_log_history(state)) if state else []
    except (RecordError, OSError):
        return None
    return set(names) or None


def _inferred_reward_functions(
    files: list[Path], reward_weights: dict[str, float] | None, result: IngestResult
) -> set[str] | None:
    """Without trainer_state.json: the reward columns told from float `log_extra` columns by the logged
    advantages (`rlaudit.ingest.trl_rewards`), from the first `SAMPLE_FILES` files; None, with a note
    saying so, when that cannot tell (then every float column is summed)."""
    sample = [_read(f) for f in files[:SAMPLE_FILES]]
    candidates = [c for c in _reward_columns(sample[0], None)[0] if all(c in t.column_names for t in sample)]
    found = infer(sample, candidates, reward_weights)
    if found.rewards is not None and len(candidates) > 1:
        result.notes.append(
            f"no trainer_state.json beside the completions: reward functions told from other float columns "
            f"because {found.reason}"
        )
        return set(found.rewards)
    if found.rewards is None:
        result.notes.append(
            f"no trainer_state.json beside the completions, and {found.reason}: every float column "
            f"({', '.join(candidates)}) is summed into the reward, a float log_extra column included; "
            "put the run's trainer_state.json beside the folder, or leave a column out with "
            "--reward-weights NAME=0"
        )
    return None


def _read(f: Path) -> pa.Table:
    """The file's table. `ParquetFile` rather than `pq.read_table`: the same table without the dataset
    machinery, a third of the time on TRL's small per-step files (read twice each, 30,000 in a run)."""
    try:
        with pq.ParquetFile(f) as parquet:
            return parquet.read()
    except (pa.ArrowException, OSError) as e:
        raise RecordError(f"{f}: not a readable Parquet file ({e})") from None


def _fingerprint(table: pa.Table) -> str:
    """Hash of everything but the step (NaN-safe, unlike Table.equals)."""
    content = table.drop_columns([c for c in ("step",) if c in table.column_names]).replace_schema_metadata(
        None
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, content.schema) as writer:
        writer.write_table(content)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _reward_columns(table: pa.Table, reward_names: set[str] | None) -> tuple[list[str], list[str]]:
    """(reward columns, float columns left out only because trainer_state.json does not list them)."""
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type) and f.name not in _NOT_REWARD]
    if reward_names and (listed := [c for c in table.column_names if c in reward_names]):
        return listed, [c for c in floats if c not in reward_names]
    return floats, []


def _convert(
    f: Path, *, reward_names: set[str] | None, reward_weights: dict[str, float] | None
) -> list[pa.Table]:
    """One completions file as rollout records, ready for `normalize` (which `append_all` runs on a
    batch of files at once); RecordError names the file, row and column."""
    table = _read(f)
    source = str(f)
    for name in ("step", "prompt", "completion"):
        if name not in table.column_names:
            raise RecordError(f"{source}: missing column '{name}' (columns: {', '.join(table.column_names)})")
    components, _ = _reward_columns(table, reward_names)
    if not components:
        raise RecordError(
            f"{source}: no reward columns (one float column per reward function); "
            f"columns: {', '.join(table.column_names)}"
        )
    for name in components:
        typ = table.schema.field(name).type
        if not (pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_null(typ)):
            raise RecordError(f"{source}: reward column '{name}' must be numbers, got {typ}")
    weights = _weights(components, reward_weights, source)
    matrix = np.column_stack(
        [
            pc.cast(table.column(c), pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
            for c in components
        ]
    )
    inf_rows, inf_cols = np.nonzero(np.isinf(matrix))
    if len(inf_rows):
        raise RecordError(
            f"{source}: row {inf_rows[0] + 1}: reward column '{components[inf_cols[0]]}' is infinite"
        )
    weighted = matrix * weights
    reward = np.where(np.isnan(matrix).all(axis=1), np.nan, np.nansum(weighted, axis=1))
    n, k = matrix.shape
    rewards = pa.MapArray.from_arrays(
        pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)),
        pa.array(components * n, type=pa.string()),
        pa.array(matrix.reshape(-1), type=pa.float64()),
    )
    table = table.drop_columns(components)
    for name in ("prompt", "completion"):
        table = _set(table, name, render_chat_column(table.column(name), as_completion=name == "completion"))
    if "correct" in table.column_names:
        table = _set(table, "correct", _correct(table.column("correct"), source))
    table = table.append_column("reward", pa.array(reward, type=pa.float64()))
    table = table.append_column("rewards", rewards)
    return [table]


def _set(table: pa.Table, name: str, column: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, column)


def _weights(components: list[str], reward_weights: dict[str, float] | None, source: str) -> np.ndarray:
    """Per-component weights; components the mapping does not name weigh 1, like TRL's default."""
    reward_weights = reward_weights or {}
    unknown = [k for k in reward_weights if k not in components]
    if unknown:
        raise RecordError(
            f"{source}: reward weight for '{unknown[0]}', which is not a reward column "
            f"(reward columns: {', '.join(components)})"
        )
    return np.array([float(reward_weights.get(c, 1.0)) for c in components], dtype=np.float64)


def render_chat_column(column: pa.ChunkedArray, *, as_completion: bool) -> pa.ChunkedArray | pa.Array:
    """Strings stay; chat message lists become compact JSON (a lone message's content, for completions)."""
    typ = column.type
    if not (pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_struct(typ)):
        return column  # strings; any other type is left for `normalize` to reject
    out = []
    for value in column.to_pylist():
        if value is None or isinstance(value, str):
            out.append(value)
            continue
        messages = [_message(m) for m in value] if isinstance(value, list) else value
        if (
            as_completion
            and isinstance(messages, list)
            and len(messages) == 1
            and isinstance(messages[0], dict)
            and isinstance(messages[0].get("content"), str)
        ):
            out.append(messages[0]["content"])
        else:
            out.append(json.dumps(messages, ensure_ascii=False, separators=(",", ":"), default=str))
    return pa.array(out, type=pa.string())


def _message(m: Any) -> Any:
    """A chat message with a fixed key order (role, content, then the rest) and no null keys: Parquet
    structs give every message every key any message had, so this keeps one prompt one string."""
    if not isinstance(m, dict):
        return m
    order = ["role", "content", *sorted(k for k in m if k not in ("role", "content"))]
    return {k: m[k] for k in order if m.get(k) is not None}


def _correct(column: pa.ChunkedArray, source: str) -> pa.ChunkedArray | pa.Array:
    """`correct` as booleans: bools stay, numbers must be 0/1; anything else is left to `normalize`."""
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), None, column)  # pandas stores a missing value as NaN
    elif not pa.types.is_integer(column.type):
        return column
    ok = pc.or_kleene(pc.equal(column, 0), pc.equal(column, 1))
    if not pc.all(pc.fill_null(ok, True)).as_py():
        bad = int(pc.index(pc.fill_null(ok, True), False).as_py())
        raise RecordError(
            f"{source}: row {bad + 1}: field 'correct' must be true/false or 0/1, got {column[bad].as_py()}"
        )
    return pc.cast(column, pa.bool_())
