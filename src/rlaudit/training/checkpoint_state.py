"""The live monitor's state, saved with each trainer checkpoint and restored on `resume_from_checkpoint`.

A run resumed from `checkpoint-S` generates again every rollout after step S. So that the store ends
with each rollout exactly once, the monitor saves with each checkpoint (`checkpoint-S/rlaudit/`) which
parts of the store it had written by then (all of its rows up to S: it flushes first), the rows it
could not write yet, and its detector state (what it already alerted on, the first flagged step, the
row counter). On resume it restores that state and moves the parts this run wrote after the checkpoint
to ``store/superseded/`` (out of every query, kept for inspection): their steps are about to be
trained, and logged, again.

The state is written in `on_save`, just after the trainer has written its checkpoint, and not before:
a folder `checkpoint-N` made early would be taken by `get_last_checkpoint` for a checkpoint, and a
resume from it would fail. A kill between the two writes leaves a checkpoint without monitor state,
as does a checkpoint saved with no callback: resuming from one is a counted fault, and rows after S may
then be stored twice. A run's parts are told apart from any other run's by a session id in
their names, kept across resumes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaudit.training.failopen import _Chunk

if TYPE_CHECKING:
    from rlaudit.training.monitor_callback import MonitorCallback

STATE_DIR = "rlaudit"
"""Folder inside a trainer checkpoint that holds the monitor's state."""
STATE_FILE = "monitor_state.json"
STATE_VERSION = 1


def checkpoint_dir(output_dir: str, step: int) -> Path:
    """Where the trainer saved (or will save) its checkpoint of `step` (transformers' naming)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    return Path(output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest checkpoint in `output_dir` that is whole: the trainer's state and the monitor's both
    written (transformers' `get_last_checkpoint` takes the newest folder, even one a kill left half
    written, which then fails to resume). Pass it to `trainer.train(resume_from_checkpoint=...)`."""
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    whole = []
    for path in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        step = path.name.rpartition("-")[2]
        if (
            step.isdigit()
            and (path / TRAINER_STATE_NAME).is_file()
            and (path / STATE_DIR / STATE_FILE).is_file()
        ):
            whole.append((int(step), path))
    return str(max(whole)[1]) if whole else None


def save(cb: MonitorCallback, checkpoint: Path) -> None:
    """Write `cb`'s state into `checkpoint` (call after flushing: the rows still buffered are saved)."""
    import pyarrow.parquet as pq

    folder = checkpoint / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for chunk in cb.buffer.chunks:  # rows the store could not take yet
        if chunk.table is not None:
            pq.write_table(chunk.table, folder / f"{chunk.part}.parquet")
        kept.append({"part": chunk.part, "spilled": str(chunk.spilled) if chunk.spilled else None})
    doc = {
        "version": STATE_VERSION,
        "session": cb.buffer.session,
        "next_seq": cb.buffer.next_seq,
        "written": cb.buffer.written,
        "buffered": kept,
        "rows": cb._rows,
        "alerted": sorted([d, s] for d, s in cb._alerted),
        "first_flag_step": cb.first_flag_step,
        "last_judge_step": cb._last_judge_step,
        "faults": dict(cb.faults.counts),
        "dropped_rows": cb.buffer.dropped_rows,
        # The live probe's counters (None without one): its errors and overhead cover the whole run.
        "probe": None if cb.probe is None else cb.probe.state(),
    }
    tmp = folder / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, folder / STATE_FILE)


def restore(cb: MonitorCallback, checkpoint: Path, step: int) -> bool:
    """Load `cb`'s state from `checkpoint` (saved at `step`) and set aside what it wrote after; False
    when the checkpoint holds no monitor state."""
    import pyarrow.parquet as pq

    folder = checkpoint / STATE_DIR
    try:
        doc: dict[str, Any] = json.loads((folder / STATE_FILE).read_text())
    except FileNotFoundError:
        return False
    buf = cb.buffer
    buf.session, buf.next_seq, buf.written = doc["session"], doc["next_seq"], list(doc["written"])
    buf.dropped_rows = doc["dropped_rows"]
    buf.chunks = []
    for kept in doc["buffered"]:
        spilled = Path(kept["spilled"]) if kept["spilled"] else None
        if spilled is not None and spilled.exists():
            buf.chunks.append(_Chunk(kept["part"], None, spilled))
        elif (folder / f"{kept['part']}.parquet").exists():
            buf.chunks.append(_Chunk(kept["part"], pq.read_table(folder / f"{kept['part']}.parquet")))
    cb._rows = doc["rows"]
    cb._alerted = {(d, s) for d, s in doc["alerted"]}
    cb.first_flag_step = doc["first_flag_step"]
    cb._last_judge_step = doc["last_judge_step"]
    cb.faults.counts.update(doc["faults"])
    if cb.probe is not None and doc.get("probe"):  # absent in states saved before it was added
        cb.probe.load_state(doc["probe"])
    _set_aside_later_parts(cb, keep={*buf.written, *(c.part for c in buf.chunks)})
    return True


def _set_aside_later_parts(cb: MonitorCallback, keep: set[str]) -> None:
    """Move this session's parts (and spill files) that the checkpoint does not know out of the store's
    view: they hold rollouts of steps after the checkpoint, which the resumed run trains again."""
    prefix = f"part-{cb.buffer.session}-"
    live = cb.store.rollouts_dir / cb.live_name
    aside = cb.store.path / "superseded" / cb.live_name
    for part in sorted(live.glob(f"{prefix}*.parquet")) if live.is_dir() else []:
        if part.stem not in keep:
            aside.mkdir(parents=True, exist_ok=True)
            shutil.move(part, aside / part.name)
    spill = cb.buffer.spill_dir
    for path in sorted(spill.glob(f"{prefix}*.parquet")) if spill.is_dir() else []:
        if path.stem not in keep:
            path.unlink()
