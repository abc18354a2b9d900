"""verl rollout dumps: `trainer.rollout_data_dir/{global_steps}.jsonl`.

verl's `RayPPOTrainer._dump_generations` writes one file per training step, one JSON object per
rollout: `{"input": str, "output": str, "gts": ground truth or null, "score": float, "step": int,
...reward_extra_infos}` where the extra keys are whatever the reward function returned per sample
(e.g. `acc`, `pred`, `request_id`). `trainer.validation_data_dir` holds the same format for eval.

Mapping onto the rollout record: input -> prompt, output -> completion, score -> reward,
gts -> answer (non-strings as compact JSON; a numpy array's text, `"['14' '3']"` or `array([...])`,
read back as the list it shows: `rlaudit.ingest.verl_gts`), acc -> correct when it is true/false or 0/1 (else it
stays an extra). Extra keys named like record fields (split, condition, correct, entropy, ...) fill
those fields; keys that clash with a mapped field (a `prompt`, `reward`, ... key) are kept as
`verl_<key>`; everything else is kept in `extra`. Group: the rows of one step sharing a prompt.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rlaudit.ingest._common import Pending, append_all
from rlaudit.ingest.jsonl import FALLBACK_ROWS, _check, _fits_float, _table, json_objects
from rlaudit.ingest.verl_gts import ArrayTextError, looks_like_array, parse_array_text
from rlaudit.records import RecordError, RolloutStore, normalize

if TYPE_CHECKING:
    from rlaudit.ingest import IngestResult

# record field <- verl key
_MAPPED = {"prompt": "input", "completion": "output", "reward": "score", "answer": "gts"}


def ingest_verl(path: Path, store: RolloutStore, *, run: str | None, result: IngestResult) -> None:
    """Ingest a verl rollout_data_dir or one `{step}.jsonl` dump; every file is validated first."""
    if path.is_dir():
        files = sorted((p for p in path.glob("*.jsonl") if p.stem.isdigit()), key=lambda p: int(p.stem))
        if not files:
            raise RecordError(f"{path}: no verl rollout dumps ({{step}}.jsonl)")
        others = sorted(p.name for p in path.glob("*.jsonl") if not p.stem.isdigit())
        if others:
            result.notes.append(
                f"ignored {len(others)} file(s) not named {{step}}.jsonl: {', '.join(others[:5])}"
            )
        run = run or path.name
    else:
        files = [path]
        run = run or path.parent.name
    pending = []
    for f in files:
        plan = store.plan(f)
        if plan is None:
            result.files_skipped += 1
            continue
        size = f.stat().st_size
        offset, rows_before = plan
        produce = partial(
            _read, f, run=run, offset=offset, rows_before=rows_before, end=size, notes=result.notes
        )
        pending.append(Pending(f, "verl", produce, n_bytes=size))
    append_all(store, pending, result)


def _read(
    f: Path, *, run: str, offset: int, rows_before: int, end: int, notes: list[str] | None = None
) -> list[pa.Table]:
    """Normalized tables of one dump (bytes offset..end); RecordError names the file, line and key."""
    if end - offset <= 0:
        raise RecordError(f"{f}: empty file (no records)")
    rows: list[dict[str, Any]] = []
    line_nos: list[int] = []
    for line_no, obj in json_objects(f, offset=offset, end=end, rows_before=rows_before):
        rows.append(_record(obj, f, line_no))
        line_nos.append(line_no)
    if not rows:
        raise RecordError(f"{f}: no records")
    _acc_to_correct(rows, f, notes)
    tables = []
    for start in range(0, len(rows), FALLBACK_ROWS):
        chunk = rows[start : start + FALLBACK_ROWS]
        tables.append(normalize(_table(chunk), source=str(f), first_row=line_nos[start], run=run))
    return tables


def _record(obj: dict[str, Any], f: Path, line_no: int) -> dict[str, Any]:
    where = f"{f}: line {line_no}"
    for key in ("input", "output", "score", "step"):
        if key not in obj:
            raise RecordError(f"{where}: missing required key '{key}'")
    for key in ("input", "output"):
        if not isinstance(obj[key], str):
            raise RecordError(f"{where}: key '{key}' must be a string, got {_show(obj[key])}")
    score = obj["score"]
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise RecordError(f"{where}: key 'score' must be a number, got {_show(score)}")
        if not _fits_float(score):  # an integer of hundreds of digits
            raise RecordError(f"{where}: key 'score' is out of the float64 range")
        if math.isinf(score):
            raise RecordError(f"{where}: key 'score' is infinite")
    step = obj["step"]
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if isinstance(step, bool) or not isinstance(step, int):
        raise RecordError(f"{where}: key 'step' must be an integer, got {_show(step)}")
    gts = _gts(obj.get("gts"), where)
    record: dict[str, Any] = {
        "step": step,
        "prompt": obj["input"],
        "completion": obj["output"],
        "reward": None if score is None else float(score),
        "answer": gts if gts is None or isinstance(gts, str) else json.dumps(gts, ensure_ascii=False),
    }
    for key, value in obj.items():
        if key in ("input", "output", "score", "step", "gts"):
            continue
        record[f"verl_{key}" if key in _MAPPED else key] = value
    _check(record, f, line_no)  # the record fields among the extra keys (split, correct, ...)
    return record


def _gts(gts: Any, where: str) -> Any:
    """A `gts` written as a numpy array's text (`rlaudit.ingest.verl_gts`) becomes the list it shows."""
    if not isinstance(gts, str) or not looks_like_array(gts):
        return gts
    try:
        return parse_array_text(gts)
    except ArrayTextError as e:
        raise RecordError(f"{where}: key 'gts' looks like a numpy array but cannot be read: {e}") from None


def _acc_to_correct(rows: list[dict[str, Any]], f: Path, notes: list[str] | None) -> None:
    """verl's `acc` becomes `correct` when every value is true/false or 0/1 (and no `correct` is given)."""
    if any("correct" in r for r in rows) or not any("acc" in r for r in rows):
        return
    values = [r.get("acc") for r in rows]
    if all(v is None or isinstance(v, bool) or (isinstance(v, int | float) and v in (0, 1)) for v in values):
        for r in rows:
            if "acc" in r:
                acc = r.pop("acc")
                r["correct"] = None if acc is None else bool(acc)
    elif notes is not None:
        note = f"{f.name}: 'acc' is not true/false or 0/1, so it is kept as an extra, not read as correctness"
        if note not in notes:
            notes.append(note)


def _show(value: Any) -> str:
    return json.dumps(value)[:40]
