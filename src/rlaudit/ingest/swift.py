"""ms-swift GRPO completions log: `output_dir/completions.jsonl`.

With `--log_completions true`, ms-swift's `GRPOTrainer.log` appends one JSON line per logging step
(`swift.utils.JsonlWriter`, `ensure_ascii=False`, NaN written as a bare `NaN`): an object of columns,
each a list with one entry per rollout of the last generation batch, in this key order:

    step          the global step, as a string, repeated on every row
    prompt        the chat-templated prompt text
    completion    the decoded completion text
    <reward>...   one float column per reward function, named after its class (or function), in the
                  order of `reward_funcs`; NaN where it returned None
    advantages    the advantage of each rollout
    entropy, solution, num_turns, ...   extras (the reference solution, multi-turn counts, ...)

So the reward columns are exactly the keys between `completion` and `advantages`; nothing has to be
guessed from value types (a numeric extra like `num_turns` is not a reward). The total reward is
what the trainer optimised: the `nansum` of the components weighted by `reward_weights`, read from the
run's `args.json` beside the log (ms-swift writes it into output_dir), else from `--reward-weights`,
else 1 each (said in a note).

Mapping onto the rollout record: prompt, completion; reward (NaN when every component is NaN);
rewards (name -> value); advantages -> advantage; entropy -> entropy; solution -> answer (non-strings
as compact JSON); other extras kept in `extra`. Group: the rows of one step sharing a prompt.

ms-swift keeps its log buffers across logging steps (deques of one generation batch): when no new
batch was generated in between (`num_iterations > 1`, or `steps_per_generation` above the logging
interval), a line repeats the previous one under a new step. Such a line is stored once, with a note.
"""

from __future__ import annotations

import json
import math
import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rlaudit.ingest._common import Pending, append_all
from rlaudit.ingest.jsonl import FALLBACK_ROWS, _check, _fits_float, _table, json_objects
from rlaudit.records import RecordError, RolloutStore, normalize

if TYPE_CHECKING:
    from rlaudit.ingest import IngestResult

FILE = "completions.jsonl"
ARGS = "args.json"
_FIRST = ("step", "prompt", "completion")
_MAPPED = {"advantages": "advantage", "entropy": "entropy", "solution": "answer"}


_HEAD = re.compile(rb'\A\{\s*"step"\s*:\s*\[[^\]]*\]\s*,\s*"prompt"\s*:\s*\[')
"""How an ms-swift completions line starts: the step column, then the prompt column."""


def looks_like_swift(path: Path) -> bool:
    """Whether `path` starts like an ms-swift completions line: `{"step": [...], "prompt": [`. Only the
    head is read, and nothing is parsed: a line holds a whole generation batch (megabytes), and a
    hostile file may nest deeper than a JSON parser recurses."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    return _HEAD.match(head) is not None


def locate(path: Path) -> Path | None:
    """The completions.jsonl of an ms-swift output_dir (or the file itself), when it is one."""
    f = path / FILE if path.is_dir() else path
    return f if f.is_file() and looks_like_swift(f) else None


def ingest_swift(
    path: Path,
    store: RolloutStore,
    *,
    run: str | None,
    reward_weights: dict[str, float] | None,
    result: IngestResult,
) -> None:
    """Ingest an ms-swift output_dir or its completions.jsonl (a file that grew is resumed)."""
    f = locate(path)
    if f is None:
        raise RecordError(f"{path}: no ms-swift {FILE} (swift rlhf --rlhf_type grpo --log_completions true)")
    weights, source = _weights(f.parent, reward_weights)
    run = run or f.parent.name
    plan = store.plan(f)
    if plan is None:
        result.files_skipped += 1
        return
    size = f.stat().st_size
    offset, rows_before = plan
    produce = partial(
        _read,
        f,
        run=run,
        offset=offset,
        rows_before=rows_before,
        end=size,
        weights=weights,
        notes=result.notes,
    )
    append_all(store, [Pending(f, "swift", produce, n_bytes=size)], result)
    result.notes.append(f"ms-swift reward: the nansum of the components weighted by {source}")


def _weights(
    output_dir: Path, given: dict[str, float] | None
) -> tuple[list[float] | dict[str, float] | None, str]:
    """The reward weights (a list in reward-column order from args.json, or a name -> weight dict
    given by the user) and where they came from."""
    if given is not None:
        return given, "--reward-weights"
    args = output_dir / ARGS
    if args.is_file():
        try:
            weights = json.loads(args.read_text(encoding="utf-8")).get("reward_weights")
        except (ValueError, AttributeError, UnicodeDecodeError):
            raise RecordError(f"{args}: not a JSON object (ms-swift's saved arguments)") from None
        if weights is None:
            return None, f"1 each ({ARGS} sets no reward_weights)"
        if not isinstance(weights, list) or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) for w in weights
        ):
            raise RecordError(f"{args}: reward_weights must be a list of finite numbers")
        return [float(w) for w in weights], f"reward_weights from {ARGS}"
    return None, f"1 each (no {ARGS} beside the log: pass --reward-weights if the run weighted them)"


def _read(
    f: Path,
    *,
    run: str,
    offset: int,
    rows_before: int,
    end: int,
    weights: list[float] | dict[str, float] | None,
    notes: list[str],
) -> list[pa.Table]:
    """Normalized tables of the lines in bytes offset..end (rows numbered after the `rows_before` already
    stored); RecordError names the file, line and key."""
    previous: dict[str, Any] | None = None
    lines_before = 0
    for _, obj in json_objects(f, offset=0, end=offset, rows_before=0):  # the line a repeat is compared to
        previous, lines_before = obj, lines_before + 1
    rows: list[dict[str, Any]] = []
    repeats: list[int] = []
    for line_no, obj in json_objects(f, offset=offset, end=end, rows_before=lines_before):
        converted = _rows(obj, f, line_no, weights)  # a repeat is checked too: its step may be bad
        if previous is not None and _without_step(obj) == _without_step(previous):
            repeats.append(line_no)
        else:
            rows.extend(converted)
        previous = obj
    if repeats:
        notes.append(
            f"{f.name}: {len(repeats)} line(s) repeat the previous line's rollouts under a new step "
            "(ms-swift re-logs its last generation batch when none was generated in between); stored once"
        )
    if not rows:
        if repeats:
            return []
        raise RecordError(f"{f}: no rollouts")
    tables = []
    for start in range(0, len(rows), FALLBACK_ROWS):
        chunk = rows[start : start + FALLBACK_ROWS]
        tables.append(normalize(_table(chunk), source=str(f), first_row=rows_before + start + 1, run=run))
    return tables


def _without_step(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "step"}


def _rows(
    obj: dict[str, Any], f: Path, line_no: int, weights: list[float] | dict[str, float] | None
) -> list[dict[str, Any]]:
    """One rollout record per row of the line's columns."""
    where = f"{f}: line {line_no}"
    keys = list(obj)
    for key in (*_FIRST, "advantages"):
        if key not in obj:
            raise RecordError(f"{where}: missing column '{key}'")
    for key, column in obj.items():
        if not isinstance(column, list):
            raise RecordError(f"{where}: column '{key}' must be a list, got {json.dumps(column)[:40]}")
    n = len(obj["step"])
    for key, column in obj.items():
        if len(column) != n:
            raise RecordError(f"{where}: column '{key}' has {len(column)} rows, 'step' has {n}")
    rewards = keys[keys.index("completion") + 1 : keys.index("advantages")]
    if not rewards:
        raise RecordError(f"{where}: no reward columns between 'completion' and 'advantages'")
    w = _weight_list(weights, rewards, where)
    step = _step(obj["step"], where)
    out = []
    for i in range(n):
        components = {name: _number(obj[name][i], where, name) for name in rewards}
        weighted = [wt * v for wt, v in zip(w, components.values(), strict=True) if not math.isnan(v)]
        record: dict[str, Any] = {
            "step": step,
            "prompt": _text(obj["prompt"][i], where, "prompt"),
            "completion": _text(obj["completion"][i], where, "completion"),
            "reward": math.fsum(weighted) if weighted else None,
            # NaN (unscored) components are left out: the store's map holds numbers.
            "rewards": {k: v for k, v in components.items() if not math.isnan(v)},
        }
        for key in keys:
            if key in _FIRST or key in rewards:
                continue
            value = obj[key][i]
            field = _MAPPED.get(key, key if key not in record else f"swift_{key}")
            if field in ("advantage", "entropy"):
                value = None if value is None else _number(value, where, key)
                value = None if value is not None and math.isnan(value) else value
            elif field == "answer" and value is not None and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False)
            record[field] = value
        _check(record, f, line_no)  # extras named like record fields (split, correct, ...) have their types
        out.append(record)
    return out


def _weight_list(weights: list[float] | dict[str, float] | None, names: list[str], where: str) -> list[float]:
    if weights is None:
        return [1.0] * len(names)
    if isinstance(weights, dict):
        return [float(weights.get(name, 1.0)) for name in names]
    if len(weights) != len(names):
        raise RecordError(
            f"{where}: {ARGS} gives {len(weights)} reward_weights for {len(names)} reward columns "
            f"({', '.join(names)}); pass --reward-weights"
        )
    return weights


def _step(values: list[Any], where: str) -> int:
    """ms-swift writes the global step as a string, the same on every row."""
    steps = set(values)
    if len(steps) != 1:
        raise RecordError(f"{where}: column 'step' holds several steps: {sorted(map(str, steps))[:3]}")
    (value,) = steps
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or len(text) > 18:
        raise RecordError(
            f"{where}: column 'step' must hold a non-negative integer, got {json.dumps(value)[:40]}"
        )
    return int(text)


def _number(value: Any, where: str, key: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not _fits_float(value):
        raise RecordError(f"{where}: column '{key}' must hold numbers, got {json.dumps(value)[:40]}")
    if math.isinf(value):
        raise RecordError(f"{where}: column '{key}' holds an infinite value")
    return float(value)


def _text(value: Any, where: str, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):  # a message list: one prompt is one string
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    raise RecordError(f"{where}: column '{key}' must hold text, got {json.dumps(value)[:40]}")
