"""One generation batch of a TRL `GRPOTrainer` as rollout rows, gathered to the main process.

`rollout_table` turns what the trainer's reward computation sees (the batch's inputs, prompts,
completions, completion token ids and the gathered per-function rewards) into an Arrow table of
rollout rows: a few Arrow conversions, no validation (that waits for the background writer,
`rlaudit.training.judge_worker`), so the training step pays almost nothing for it.

In a multi-process run (accelerate, torchrun, DeepSpeed, FSDP) each process generates its own share
of the batch; `gather_to_main` sends every process's rows to the main process, in process order, so
the store holds the whole batch and the findings are those of a one-process run of the same global
batch. Every process must call it once per batch, or the collective would wait forever: a process
whose capture failed sends nothing (None) instead of skipping the call.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa

from rlaudit.ingest.trl import render_chat_column

ROW_FIELDS = ("split", "condition", "answer", "correct", "prompt_id", "difficulty")
"""Dataset columns copied onto each rollout when the dataset has them (`difficulty`, not a record field,
lands in the store's `extra`: the monitor's difficulty-matched comparison reads it there)."""


def rollout_table(
    trainer: Any,
    inputs: list[dict[str, Any]],
    prompts: list[Any],
    completions: list[Any],
    completion_ids_list: list[Any],
    rewards_per_func: Any,
    probe: Any = None,
) -> pa.Table:
    """This process's rollouts of one generation batch (`rewards_per_func` is gathered across
    processes, in process order: this process's rows are its slice of it)."""
    n = len(prompts)
    rank = int(getattr(getattr(trainer, "accelerator", None), "process_index", 0))
    per_func = rewards_per_func.detach().float().cpu().numpy()[rank * n : (rank + 1) * n]
    names = list(trainer.reward_func_names)
    weights = trainer.reward_weights.detach().float().cpu().numpy()
    with np.errstate(invalid="ignore"):  # inf * a weight of 0 is NaN: that reward does not count
        weighted = per_func * weights
    total = np.where(np.isnan(per_func).all(axis=1), np.nan, np.nansum(weighted, axis=1))
    step = int(trainer.state.global_step) + 1  # the step these rollouts feed (TRL's log convention)
    cols: dict[str, Any] = {
        "step": pa.array([step] * n, pa.int64()),
        "prompt": render_chat_column(_column(prompts), as_completion=False),
        "completion": render_chat_column(_column(completions), as_completion=True),
        "reward": pa.array(total, pa.float64()),
        "rewards": pa.array(
            [
                [(k, float(v)) for k, v in zip(names, row, strict=True) if not math.isnan(v)]
                for row in per_func
            ],
            pa.map_(pa.string(), pa.float64()),
        ),
        "n_tokens": pa.array([len(ids) for ids in completion_ids_list], pa.int64()),
    }
    # Columns the reward functions logged through TRL's `log_extra` for this batch (TRL flushes them
    # after the rewards are computed), then the dataset's own columns for what they did not log.
    logged = {k: list(v) for k, v in getattr(trainer, "_pending_extra_logs", {}).items() if len(v) == n}
    for name in ROW_FIELDS:
        if name not in logged and inputs and name in inputs[0]:
            logged[name] = [row.get(name) for row in inputs]
    for name, values in logged.items():
        if name == "correct":
            cols[name] = pa.array([None if v is None else bool(v) for v in values], pa.bool_())
        elif name in ROW_FIELDS:
            cols[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
        elif name not in cols:
            try:  # anything else a reward function logged is kept, in `extra`
                cols[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                cols[name] = pa.array([json.dumps(v, default=str) for v in values])
    if probe is not None:  # fail-open inside: never costs the step's rollouts
        cols.update(probe.observe(trainer, step, prompts, completions, logged.get("split")))
    return pa.table(cols)


def world_size() -> int:
    """Processes in this run (1 unless torch.distributed is initialised with more)."""
    try:
        import torch.distributed as dist

        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    except (ImportError, RuntimeError):
        return 1


def gather_to_main(table: pa.Table | None, is_main: bool) -> list[pa.Table]:
    """Every process's table on the main process (rank 0), in rank order (None from a process whose
    capture failed is left out); [] on the others. With one process, `[table]`.

    The tables travel as Arrow IPC bytes (`gather_object` pickles what it sends; bytes are all it is
    given, so nothing but Arrow's own format is decoded on arrival)."""
    if world_size() == 1:
        return [] if table is None else [table]
    import torch.distributed as dist

    payload = None if table is None else _to_ipc(table)
    received: list[Any] | None = [None] * dist.get_world_size() if is_main else None
    dist.gather_object(payload, received, dst=0)
    if not is_main or received is None:
        return []
    return [_from_ipc(b) for b in received if b is not None]


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def _column(values: list[Any]) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values)])
