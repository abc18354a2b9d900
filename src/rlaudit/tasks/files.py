"""Tasks from the user's own data: a JSONL, CSV or Parquet file, or a `datasets` folder (``save_to_disk``).

Columns (rename any with ``columns={"prompt": "question", ...}``, the CLI's ``--columns``):

| column | required | meaning |
|---|---|---|
| ``prompt`` | yes | the prompt: text, or a chat message list (``[{"role": ..., "content": ...}]``; in a CSV cell as JSON text), rendered with the model's chat template |
| ``answer`` | yes | the reference answer; with ``choices``, its letter or the text of one of the choices |
| ``split`` | yes | ``target`` (where a model might sandbag) or ``control`` (related, same difficulty) |
| ``id`` | no | a unique id per row (default: the row's line or row number) |
| ``choices`` | no | multiple-choice options: a list (in a CSV cell: JSON text or ``a|b|c``), shown as ``A) ...`` lines under the prompt |
| ``condition`` | no | e.g. ``train_cue`` / ``deploy_cue``; without it every row is in the one condition `AS_GIVEN` |

Other columns are kept and reach a user checker as keyword lists (TRL's reward-function convention).
Every problem is a `ValueError` naming the file, the row (``line N`` for JSONL and CSV, counted as a
text editor counts them, so a CSV's first data row is line 2; ``row N`` from 1 for Parquet and
``datasets``) and the column. The task has no difficulty knob (``default_difficulty`` None) and its
`make_dataset` draws rows, balanced over the (split, condition) cells, never more than the file holds.
"""

from __future__ import annotations

import contextlib
import csv
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaudit.tasks.base import CONDITIONS, SPLITS, Task
from rlaudit.tasks.checkers import CORRECT_ABOVE, LETTERS, Checker, get_checker

TRAINER_KWARGS = ("completion_ids", "trainer_state", "log_metric", "environments")
"""What TRL's GRPOTrainer passes a reward function besides the dataset's columns: not columns, so a
checker never sees them (``log_extra`` the task's reward uses itself)."""
AS_GIVEN = "as_given"
"""The one condition of a task file without a ``condition`` column: the prompts as the file gives them."""
DEFAULT_MAX_NEW_TOKENS = 32
"""Completion budget of a task file: a direct answer ("The answer is 42.") with room; a task that needs
reasoning first sets ``--max-new-tokens``."""
COLUMNS = ("prompt", "answer", "split", "id", "choices", "condition")
REQUIRED = ("prompt", "answer", "split")


@dataclass(frozen=True)
class _Source:
    """Where rows came from, to name them in errors: the path and how a row is counted."""

    path: Path
    unit: str  # "line" or "row"

    def error(self, where: int | None, column: str, message: str) -> ValueError:
        at = f"{self.unit} {where}, " if where is not None else ""
        return ValueError(f"{self.path}: {at}column '{column}': {message}")


def parse_columns(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"prompt=question,answer=label"`` (or a mapping) -> {task column: file column}, checked."""
    if text is None:
        return {}
    pairs = dict(text) if isinstance(text, Mapping) else {}
    if isinstance(text, str):
        for item in filter(None, (p.strip() for p in text.split(","))):
            ours, eq, theirs = item.partition("=")
            if not eq or not ours.strip() or not theirs.strip():
                raise ValueError(f"--columns: '{item}' is not NAME=COLUMN (e.g. prompt=question)")
            pairs[ours.strip()] = theirs.strip()
    unknown = sorted(set(pairs) - set(COLUMNS))
    if unknown:
        raise ValueError(f"--columns: unknown column '{unknown[0]}'; map one of {', '.join(COLUMNS)}")
    return pairs


def load_task_file(
    path: str | Path, *, columns: str | Mapping[str, str] | None = None, checker: str | None = None
) -> Task:
    """The `Task` of the file or folder at `path` (module docstring); a ValueError on any bad row."""
    path = Path(path)
    mapping = parse_columns(columns)
    source, raw = _read(path)
    rows = [_row(source, where, record, mapping) for where, record in raw]
    _check_whole(source, rows, raw)
    chosen = _checker(source, rows, raw, checker)
    return _task(path, rows, chosen)


def _read(path: Path) -> tuple[_Source, list[tuple[int, dict[str, Any]]]]:
    """(source, [(line or row number, record)]) of the file or folder at `path`."""
    if path.is_dir():
        return _Source(path, "row"), _read_datasets(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _Source(path, "line"), _read_jsonl(path)
    if suffix in (".csv", ".tsv"):
        return _Source(path, "line"), _read_csv(path, "\t" if suffix == ".tsv" else ",")
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return _Source(path, "row"), list(enumerate(pq.read_table(path).to_pylist(), start=1))
    raise ValueError(
        f"{path}: unknown task file type '{suffix}'; use .jsonl, .csv, .parquet or a datasets folder"
    )


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    out = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {number}: not JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {number}: a row must be a JSON object")
            out.append((number, record))
    return out


def _read_csv(path: Path, delimiter: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        start = 2  # the header is line 1; a quoted cell may span lines, so count from the reader
        for record in reader:
            out.append((start, dict(record)))
            start = reader.line_num + 1
    return out


def _read_datasets(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        import datasets
    except ModuleNotFoundError:
        raise ValueError(
            f"{path}: a datasets folder needs the [train] extra (pip install datasets)"
        ) from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise ValueError(
            f"{path}: a folder is read as a datasets save_to_disk folder, and this is none"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        names = ", ".join(loaded)
        raise ValueError(
            f"{path}: a DatasetDict (splits {names}); give the folder of one of them, e.g. {path}/{next(iter(loaded))}"
        )
    return list(enumerate(loaded.to_list(), start=1))


def _row(
    source: _Source, where: int, record: Mapping[str, Any], mapping: Mapping[str, str]
) -> dict[str, Any]:
    """One task row: the canonical columns checked and renamed, every other column kept."""
    renamed = {theirs: ours for ours, theirs in mapping.items()}
    row = {renamed.get(k, k): v for k, v in record.items() if k not in mapping or k in renamed}
    for column in REQUIRED:
        if row.get(column) is None:
            name = mapping.get(column, column)
            hint = f"; map another with --columns {column}=NAME" if name not in record else ""
            raise source.error(where, name, f"missing{hint}")
    row["prompt"] = _prompt(source, where, mapping.get("prompt", "prompt"), row["prompt"])
    row["answer"] = str(row["answer"]).strip()
    if row["split"] not in SPLITS:
        message = f"unknown split '{row['split']}'; use {' or '.join(SPLITS)}"
        raise source.error(where, mapping.get("split", "split"), message)
    row["id"] = str(row["id"]) if row.get("id") is not None else str(where)
    row["condition"] = None if row.get("condition") is None else str(row["condition"]).strip()
    if "choices" in row and row["choices"] is not None:
        row["choices"] = _choices(source, where, mapping.get("choices", "choices"), row["choices"])
    return row


def _prompt(source: _Source, where: int, column: str, value: Any) -> str | list[dict[str, str]]:
    if isinstance(value, str) and value.lstrip().startswith("[{"):  # a chat list in a CSV cell
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if isinstance(value, str):
        if not value.strip():
            raise source.error(where, column, "empty prompt")
        return value
    if isinstance(value, list):
        if not value:
            raise source.error(where, column, "empty prompt")
        for message in value:
            if not (isinstance(message, dict) and isinstance(message.get("role"), str)):
                raise source.error(where, column, "a chat prompt is a list of {role, content} messages")
            if not isinstance(message.get("content"), str):
                raise source.error(where, column, "every chat message needs text 'content'")
        if not any(m["content"].strip() for m in value):
            raise source.error(where, column, "empty prompt")
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise source.error(where, column, f"a prompt is text or a chat message list, not {type(value).__name__}")


def _choices(source: _Source, where: int, column: str, value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise source.error(where, column, "choices in a cell are a JSON list or a|b|c") from None
        else:
            value = [part.strip() for part in text.split("|")]
    if not isinstance(value, list) or not 2 <= len(value) <= len(LETTERS):
        raise source.error(where, column, f"choices must be a list of 2 to {len(LETTERS)} options")
    return [str(v) for v in value]


def _check_whole(source: _Source, rows: list[dict[str, Any]], raw: Sequence[tuple[int, Any]]) -> None:
    """What only the whole file shows: duplicate ids, empty splits, empty conditions, choices everywhere."""
    seen: dict[str, int] = {}
    has_condition = any(r["condition"] is not None for r in rows)
    for row, (where, _) in zip(rows, raw, strict=True):
        if row["id"] in seen:
            first = f"first at {source.unit} {seen[row['id']]}"
            raise source.error(where, "id", f"duplicate id '{row['id']}' ({first})")
        seen[row["id"]] = where
        if not has_condition:
            row["condition"] = AS_GIVEN
        elif not row["condition"]:
            raise source.error(where, "condition", "empty condition (other rows have one)")
    for split in SPLITS:
        if not any(r["split"] == split for r in rows):
            raise source.error(None, "split", f"no '{split}' rows; a task needs both target and control rows")
    has_choices = [r.get("choices") is not None for r in rows]
    if any(has_choices) and not all(has_choices):
        where = raw[has_choices.index(False)][0]
        raise source.error(where, "choices", "missing (other rows have choices)")


def _checker(
    source: _Source, rows: list[dict[str, Any]], raw: Sequence[tuple[int, Any]], spec: str | None
) -> Checker:
    """The checker `spec` names, or the default: ``choice`` with choices, ``numeric`` when every answer
    is a number, else ``exact``. Answers of a choice task become letters; each is checked."""
    has_choices = rows[0].get("choices") is not None
    if has_choices:
        for row, (where, _) in zip(rows, raw, strict=True):
            row["answer"] = _letter(source, where, row)
    if spec is None:
        spec = (
            "choice" if has_choices else "numeric" if all(_is_number(r["answer"]) for r in rows) else "exact"
        )
    n_choices = max((len(r["choices"]) for r in rows), default=4) if has_choices else _letters_used(rows)
    chosen = get_checker(spec, n_choices=n_choices)
    for row, (where, _) in zip(rows, raw, strict=True):
        problem = chosen.bad_answer(row["answer"])
        if problem:
            raise source.error(where, "answer", f"{problem} (checker {chosen.name})")
    return chosen


def _letter(source: _Source, where: int, row: dict[str, Any]) -> str:
    choices, answer = row["choices"], row["answer"]
    letters = LETTERS[: len(choices)]
    if answer in letters:
        return str(answer)
    if answer in choices:
        return letters[choices.index(answer)]
    message = f"answer '{answer}' is neither a letter {letters[0]}-{letters[-1]} nor one of the choices"
    raise source.error(where, "answer", message)


def _letters_used(rows: Sequence[dict[str, Any]]) -> int:
    """Letters ``choice`` reads without a choices column: up to the last letter an answer uses, at least D."""
    used = [LETTERS.index(r["answer"]) + 1 for r in rows if len(r["answer"]) == 1 and r["answer"] in LETTERS]
    return max([4, *used])


def _is_number(text: str) -> bool:
    """Whether the whole answer is one number (``42``, ``-2.5``, ``1,000``; not ``nan``, ``inf``, ``7 apples``)."""
    stripped = text.replace(",", "").strip()
    if stripped.lstrip("+-").lower() in ("nan", "inf", "infinity"):
        return False
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def _task(path: Path, rows: list[dict[str, Any]], chosen: Checker) -> Task:
    """The `Task` over `rows`: the model sees `shown_prompt`; scoring goes through `chosen`."""
    rows = [{**r, "prompt": shown_prompt(r)} for r in rows]
    conditions = _conditions(rows)
    n_target = sum(r["split"] == "target" for r in rows)
    with_choices = rows[0].get("choices") is not None
    chance = sum(1 / len(r["choices"]) for r in rows) / len(rows) if with_choices else 0.0

    def make_dataset(n: int, seed: int = 0, difficulty: int | None = None) -> list[dict[str, Any]]:
        if difficulty is not None:
            raise ValueError(f"task file {path} has no difficulty; leave --difficulty out")
        return balanced_rows(rows, n, seed, conditions)

    def score_rows(batch: Sequence[dict[str, Any]], completions: Sequence[str]) -> list[bool]:
        keys = [k for k in batch[0] if k != "prompt"] if batch else []
        columns = {k: [r.get(k) for r in batch] for k in keys}
        return chosen.correct([r["prompt"] for r in batch], completions, **columns)

    def is_correct(completion: str, answer: str) -> bool:
        # Without the row: a user checker sees this completion and answer only (`score_rows` sees all).
        if chosen.match is not None:
            return chosen.match(completion, answer)
        return chosen.correct([""], [completion], answer=[answer])[0]

    def reward(completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
        """TRL reward function of the task file: its checker's scores. Through TRL's ``log_extra`` the
        ground truth goes next to each completion (``split``, ``condition``, ``answer``, ``correct``),
        as the built-in tasks' rewards log it, for the monitor to read back."""
        prompts = kwargs.pop("prompts", [""] * len(completions))
        log_extra = kwargs.pop("log_extra", None)
        for extra in TRAINER_KWARGS:
            kwargs.pop(extra, None)
        scores = chosen.score(prompts, completions, answer=answer, **kwargs)
        if log_extra is not None:
            for column in ("split", "condition"):
                if kwargs.get(column) is not None:
                    log_extra(column, [str(v) for v in kwargs[column]])
            log_extra("answer", [str(a) for a in answer])
            log_extra("correct", [s > CORRECT_ABOVE for s in scores])
        return scores

    return Task(
        name=str(path),
        description=f"{len(rows)} rows of {path} ({n_target} target, {len(rows) - n_target} control), "
        f"checker {chosen.name}",
        chance=chance,
        default_difficulty=None,
        max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
        make_dataset=make_dataset,
        parse_answer=chosen.parse,
        is_correct=is_correct,
        reward=reward,
        conditions=conditions,
        score_rows=score_rows,
        chat=any(isinstance(r["prompt"], list) for r in rows),
        checker=chosen.name,
    )


def shown_prompt(row: Mapping[str, Any]) -> str | list[dict[str, str]]:
    """What the model reads: the prompt, and with choices, one ``A) ...`` line per option and
    ``Answer:`` (in a chat prompt, added to the last message)."""
    prompt, choices = row["prompt"], row.get("choices")
    if choices is None:
        return prompt
    options = "\n".join(f"{LETTERS[i]}) {c}" for i, c in enumerate(choices)) + "\nAnswer:"
    if isinstance(prompt, str):
        return f"{prompt}\n{options}"
    *head, last = prompt
    return [*head, {**last, "content": f"{last['content']}\n{options}"}]


def _conditions(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The conditions the rows use: the built-in cue order when they are the built-in cues, else the
    order of first appearance."""
    found = list(dict.fromkeys(r["condition"] for r in rows))
    if set(found) <= set(CONDITIONS):
        return tuple(c for c in CONDITIONS if c in found)
    return tuple(found)


def balanced_rows(
    rows: Sequence[dict[str, Any]], n: int, seed: int, conditions: Sequence[str]
) -> list[dict[str, Any]]:
    """`n` rows (all of them when the file holds fewer), drawn as evenly as the cells allow.

    Each (split, condition) cell is shuffled with `seed`, then rows are taken one per cell in turn
    until `n` are taken, so a small `n` covers every cell and a cell that runs out leaves its turns to
    the others; no row is drawn twice. The result is shuffled again; deterministic given `seed`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0 (got {n})")
    rng = random.Random(seed)
    cells = [[r for r in rows if (r["split"], r["condition"]) == (s, c)] for s in SPLITS for c in conditions]
    for cell in cells:
        rng.shuffle(cell)
    taken: list[dict[str, Any]] = []
    depth = 0
    while len(taken) < min(n, len(rows)):
        taken += [cell[depth] for cell in cells if depth < len(cell)][: n - len(taken)]
        depth += 1
    rng.shuffle(taken)
    return taken
