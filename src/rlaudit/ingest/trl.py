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
import itertools
import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rlaudit.ingest._common import Batch, append_batches, by_bytes
from rlaudit.ingest.trl_chat import render_chat_column
from rlaudit.ingest.trl_rewards import infer
from rlaudit.ingest.trl_state import find_trainer_state, load_log_history, reward_function_names
from rlaudit.records import FIELDS, RecordError, RolloutStore
from rlaudit.records.schema import Where, normalize_rows, rows_of
from rlaudit.records.store import NewSource

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
    scan = _Scan(store, run, reward_names, reward_weights)
    scan.new = {f: store.plan(f) is not None for f in files}
    batches = by_bytes(files, lambda f: f.stat().st_size)  # one read, conversion, directory each
    append_batches(store, (scan.batch(batch) for batch in batches), result)
    result.files_skipped += scan.skipped
    repeats, empty, excluded = scan.repeats, scan.empty, scan.excluded
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


class _Scan:
    """A folder's files, batch by batch in step order: each file read once, the files of a batch
    converted and normalized as one table per run of files with the same columns (the per-file
    conversion, validation and DuckDB passes were most of the cost of TRL's small per-step files:
    issue 13). Stored files are skipped unread unless the next file needs them to tell a repeat."""

    def __init__(
        self,
        store: RolloutStore,
        run: str,
        reward_names: set[str] | None,
        reward_weights: dict[str, float] | None,
    ) -> None:
        self.store, self.run = store, run
        self.reward_names, self.reward_weights = reward_names, reward_weights
        self.previous: pa.Table | None = None  # the file before the next one: a repeat repeats it
        self.new: dict[Path, bool] = {}
        """Whether each file is still to store, planned for all of them before the first batch is
        stored (as before batches: two files of a folder with the same bytes are both stored)."""
        self.skipped = 0
        self.repeats: list[str] = []
        self.empty: list[str] = []
        self.excluded: set[str] = set()

    def batch(self, files: list[Path]) -> Batch:
        new = [self.new[f] for f in files]
        sources: list[NewSource] = []
        kept: list[tuple[Path, pa.Table]] = []
        for i, f in enumerate(files):
            if not new[i] and i + 1 < len(files) and not new[i + 1]:
                self.skipped += 1  # stored, and the next file is too: no need to read it
                continue
            table = _read(f)
            # TRL writes its last generation batch at every logging step: when no new batch was
            # generated since the last log (num_iterations > 1, or steps_per_generation larger than
            # gradient_accumulation_steps), a file repeats the previous one under a new step.
            repeat = new[i] and _is_repeat(table, self.previous)
            self.previous = table
            if not new[i]:
                self.skipped += 1
                continue
            if table.num_rows == 0 or repeat:
                (self.empty if table.num_rows == 0 else self.repeats).append(f.name)
                sources.append(NewSource(f, "trl", rows=0))  # recorded as stored, with no rows
                continue
            self.excluded |= set(_reward_columns(table, self.reward_names)[1])
            kept.append((f, table))
            sources.append(NewSource(f, "trl", rows=table.num_rows))
        return Batch(sources, self._records(kept), partial(self._again, [f for f, _ in kept]))

    def _again(self, files: list[Path]) -> list[pa.Table]:
        return self._records([(f, _read(f)) for f in files])

    def _records(self, kept: list[tuple[Path, pa.Table]]) -> list[pa.Table]:
        """The files' rows as stored records: each run of files with the same columns as one table."""
        out = []
        for _, group in itertools.groupby(kept, key=lambda file_table: file_table[1].schema):
            files, tables = zip(*group, strict=True)
            # One chunk, not one per file: Arrow's kernels pay per chunk.
            table = pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]
            rows = rows_of([str(f) for f in files], [t.num_rows for t in tables])
            converted = _convert_table(
                table,
                Where(str(files[0]), 1, rows),
                reward_names=self.reward_names,
                reward_weights=self.reward_weights,
            )
            out.append(normalize_rows(converted, rows, run=self.run))
        return out


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


def _is_repeat(table: pa.Table, previous: pa.Table | None) -> bool:
    """Whether `table` holds the rows of `previous` under another step: the same bytes but for the step
    (`_fingerprint`), hashed only when the cheap tests (row count, columns, completions) pass."""
    if previous is None or table.num_rows != previous.num_rows:
        return False
    content, before = _content(table), _content(previous)
    if content.schema != before.schema:
        return False
    if "completion" in content.column_names and not content.column("completion").equals(
        before.column("completion")
    ):
        return False  # their bytes differ: no need to hash them
    return _fingerprint(content) == _fingerprint(before)


def _content(table: pa.Table) -> pa.Table:
    """Everything but the step and the schema's metadata."""
    return table.drop_columns([c for c in ("step",) if c in table.column_names]).replace_schema_metadata(None)


def _fingerprint(content: pa.Table) -> str:
    """Hash of a table's bytes (NaN-safe, unlike Table.equals)."""
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
    """One completions file as rollout records, ready for `normalize`; RecordError names the file, row
    and column. (The ingest converts a batch of files at once: `_convert_table`.)"""
    table = _read(f)
    return [_convert_table(table, Where(str(f)), reward_names=reward_names, reward_weights=reward_weights)]


def _convert_table(
    table: pa.Table,
    where: Where,
    *,
    reward_names: set[str] | None,
    reward_weights: dict[str, float] | None,
) -> pa.Table:
    """Completions rows (one file's, or several files' with the same columns) as rollout records,
    ready for `normalize`; RecordError names the file (the first, for a problem of a column), row and
    column."""
    source = where.source
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
            f"{where.row(int(inf_rows[0]))}: reward column '{components[inf_cols[0]]}' is infinite"
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
        table = _set(table, "correct", _correct(table.column("correct"), where))
    table = table.append_column("reward", pa.array(reward, type=pa.float64()))
    table = table.append_column("rewards", rewards)
    return table


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


def _correct(column: pa.ChunkedArray, where: Where) -> pa.ChunkedArray | pa.Array:
    """`correct` as booleans: bools stay, numbers must be 0/1; anything else is left to `normalize`."""
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), None, column)  # pandas stores a missing value as NaN
    elif not pa.types.is_integer(column.type):
        return column
    ok = pc.or_kleene(pc.equal(column, 0), pc.equal(column, 1))
    if not pc.all(pc.fill_null(ok, True)).as_py():
        bad = int(pc.index(pc.fill_null(ok, True), False).as_py())
        raise RecordError(
            f"{where.row(bad)}: field 'correct' must be true/false or 0/1, got {column[bad].as_py()}"
        )
    return pc.cast(column, pa.bool_())
