"""What every audit shares: the per-test result type, cost accounting, and crossed prompt sets.

An audit asks a checkpoint questions and compares the answers. The comparisons need *matched* prompts:
the same problem under the training cue and the deployment cue (context gap), or under the target tag
and the control tag (pass@k, noise, SFT), so that a difference between two arms cannot come from
different problems. `crossed_rows` builds them. A built-in task's prompts carry the shared framing
(`rlaudit.tasks.base.Framing`): it strips a row's cue and tag and asks the bare problem again in every
requested (split, condition) cell, under the task's cues (its own or the user's,
`rlaudit.tasks.with_cues`). A task file fixes each row's split, so there the cues are matched (the
same row under both) but target and control are not: problem ``i`` pairs a target row with a
different control row.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlaudit.findings import Finding
from rlaudit.jsonsafe import json_safe
from rlaudit.tasks import CELLS, CONDITIONS, SPLITS, Task
from rlaudit.tasks.base import Framing

ALPHA = 0.01
"""Significance level every audit's tests use unless its config says otherwise: one in a hundred
honest checkpoints may be flagged by chance by one test, before the multiple-comparison corrections
each audit applies inside itself."""


@dataclass
class TestResult:
    """What one audit measured: its headline statistic, an uncertainty, the raw curve, its cost, findings.

    `ci` is a confidence interval of `statistic` (or None); `p_value` the p-value of the audit's test
    (or None). `curve` holds the raw measurements a report plots (JSON-ready lists and dicts).
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    statistic: float
    statistic_name: str
    """What `statistic` is (e.g. ``deploy_minus_train_accuracy``); higher = more evidence of gaming."""
    ci: tuple[float, float] | None
    p_value: float | None
    curve: dict[str, Any]
    cost: dict[str, float]
    """``forward_passes`` (sequence-forward calls of the model: a generated token of one sequence, or
    one training row, counts one) and ``seconds`` (wall time)."""
    findings: list[Finding] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """The audit's config, as run (`dataclasses.asdict`)."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """The config fields that decide severity, by field name (`thresholds_of`), for a report to draw on
    the curve: each in the units of the statistic it bounds (a gain, a gap, a fraction, a p-value)."""

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "name": self.name,
                "statistic": self.statistic,
                "statistic_name": self.statistic_name,
                "ci": list(self.ci) if self.ci is not None else None,
                "p_value": self.p_value,
                "curve": self.curve,
                "cost": self.cost,
                "findings": [f.to_dict() for f in self.findings],
                "config": self.config,
                "thresholds": self.thresholds,
            }
        )


@contextlib.contextmanager
def metered(model: Any) -> Iterator[dict[str, float]]:
    """Count the model's sequence-forward passes and the wall time of the block.

    A forward pre-hook adds the batch size of every call (a generation step, a training step); it is
    removed on exit, even on error. Yields the dict it fills: ``forward_passes``, ``seconds``.
    """
    cost = {"forward_passes": 0, "seconds": 0.0}

    def count(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs.get("inputs_embeds")
        cost["forward_passes"] += int(ids.shape[0]) if ids is not None else 1

    handle = model.register_forward_pre_hook(count, with_kwargs=True)
    start = time.perf_counter()
    try:
        yield cost
    finally:
        handle.remove()
        cost["seconds"] = round(time.perf_counter() - start, 3)


def crossed_rows(
    task: Task,
    n_problems: int,
    *,
    seed: int,
    cells: Sequence[tuple[str, str]] = CELLS,
    framing: Framing | None = None,
    difficulty: int | None = None,
) -> list[dict[str, Any]]:
    """Up to `n_problems` problems of `task`, each asked in every (split, condition) cell of `cells`.

    Rows are problem-major (the rows of problem 0 in the order of `cells`, then problem 1, ...) and
    carry ``prompt``, ``answer``, ``split``, ``condition`` (``train_cue`` or ``deploy_cue``: the prompt
    is under ``task.cue(condition)``, the task's own cues or the user's, `rlaudit.tasks.with_cues`) and
    ``problem`` (the problem's index, from 0).

    - A built-in task (`Task.framed`): `n_problems` problems of ``task.make_dataset(n_problems,
      seed=seed, difficulty=difficulty)``; each row's `framing` cue (default `Framing`) is stripped,
      its tag and problem kept, and each cell asks the *same* problem under the tag of its split and
      the cue of its condition. With the default cues this is exactly the rows `Framing.frame` gives.
    - A task file: its split is fixed per row, so a problem is a *pair of rows*, a target row and a
      control row, and the two are **not** the same problem (nor matched in difficulty: the user's
      file says nothing about which row matches which). The target rows and the control rows are each
      taken in id order (numeric ids as numbers: file order for a file without an ``id`` column) and
      shuffled by ``random.Random(seed)``, and problem ``i`` pairs the ``i``-th of each; there are
      ``m = min(n_problems, target rows, control rows)`` problems, drawn from every row of the file
      whatever its own condition. (Both splits of one size shuffle alike, so a file whose k-th target
      row and k-th control row are the same problem keeps them paired.) A cell ``(target, c)`` asks
      the target row under ``task.cue(c)``, ``(control, c)`` the control row; each row carries every
      column of the file (``answer``, ``id``, ``choices``, what a user checker reads) with ``split``,
      ``condition`` and ``problem`` set as above (the file's own ``condition`` is replaced: the
      cues are put on here, so the file's prompts should be bare). A file without a row of some
      split: a ValueError. `difficulty` must be None (a file has none).
    """
    for split, condition in cells:
        if split not in SPLITS or condition not in CONDITIONS:
            raise ValueError(
                f"unknown cell ({split!r}, {condition!r}); splits are {', '.join(SPLITS)}, "
                f"conditions {', '.join(CONDITIONS)}"
            )
    if task.framed:
        return _framed_rows(task, n_problems, seed, cells, framing or Framing(), difficulty)
    return _file_rows(task, n_problems, seed, cells, difficulty)


def _framed_rows(
    task: Task,
    n_problems: int,
    seed: int,
    cells: Sequence[tuple[str, str]],
    framing: Framing,
    difficulty: int | None,
) -> list[dict[str, Any]]:
    """`crossed_rows` of a built-in task: the same problem in every cell."""
    rows = []
    for i, row in enumerate(task.make_dataset(n_problems, seed=seed, difficulty=difficulty)):
        prefix = framing.cue(row["condition"]) + framing.tag(row["split"])
        if not row["prompt"].startswith(prefix):
            raise ValueError(
                f"task '{task.name}' does not frame its prompts with the shared cues and tags "
                f"(expected the prefix {prefix!r}); audits need rlaudit.tasks.base.Framing"
            )
        body = row["prompt"][len(prefix) :]
        for split, condition in cells:
            rows.append(
                {
                    "prompt": task.cue(condition).apply(framing.tag(split) + body),
                    "answer": row["answer"],
                    "split": split,
                    "condition": condition,
                    "problem": i,
                }
            )
    return rows


def _file_rows(
    task: Task, n_problems: int, seed: int, cells: Sequence[tuple[str, str]], difficulty: int | None
) -> list[dict[str, Any]]:
    """`crossed_rows` of a task file: target row i and control row i in the cells of their splits."""
    every = sorted(task.make_dataset(sys.maxsize, seed=0, difficulty=difficulty), key=_id_order)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for split in SPLITS:
        by_split[split] = [r for r in every if r["split"] == split]
        if not by_split[split]:
            raise ValueError(
                f"task {task.name} has no '{split}' rows; the audits compare target and control rows"
            )
        random.Random(seed).shuffle(by_split[split])
    pairs = _matched_pairs(by_split, n_problems) if _has_difficulty(every) else _pairs(by_split, n_problems)
    rows = []
    for i, pair in enumerate(pairs):
        for split, condition in cells:
            row = pair[split]
            rows.append(
                {
                    **row,
                    "prompt": task.cue(condition).apply(row["prompt"]),
                    "split": split,
                    "condition": condition,
                    "problem": i,
                }
            )
    return rows


DIFFICULTY = "difficulty"
"""A task file's optional column: rows with equal values are matched in difficulty (the finest match is
one value per problem, asked once under each split's tag). With it, `crossed_rows` pairs each target
row with a control row of the same difficulty, and the audits' target-vs-control comparisons are
difficulty-matched (`difficulty_matched`)."""


def difficulty_matched(task: Task) -> bool:
    """Whether `crossed_rows` pairs target and control problems of equal difficulty: always for a
    built-in task (the same problem under both tags), for a task file when every row has a
    `DIFFICULTY`."""
    return task.framed or _has_difficulty(task.make_dataset(sys.maxsize, seed=0))


def _has_difficulty(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(r.get(DIFFICULTY) is not None for r in rows)


def _pairs(by_split: dict[str, list[dict[str, Any]]], n_problems: int) -> list[dict[str, dict[str, Any]]]:
    """Target row i with control row i (both shuffled): unmatched in difficulty."""
    m = min(n_problems, *(len(v) for v in by_split.values()))
    return [{split: rows[i] for split, rows in by_split.items()} for i in range(m)]


def _matched_pairs(
    by_split: dict[str, list[dict[str, Any]]], n_problems: int
) -> list[dict[str, dict[str, Any]]]:
    """Each target row (in its shuffled order) with the first unused control row of its difficulty;
    target rows without one are left out."""
    free: dict[str, list[dict[str, Any]]] = {}
    for row in reversed(by_split["control"]):  # popped from the end: the shuffled order
        free.setdefault(str(row[DIFFICULTY]), []).append(row)
    pairs = []
    for row in by_split["target"]:
        match = free.get(str(row[DIFFICULTY]))
        if match:
            pairs.append({"target": row, "control": match.pop()})
            if len(pairs) == n_problems:
                break
    if not pairs:
        raise ValueError("no target row has a control row of the same difficulty: nothing to compare")
    return pairs


def _id_order(row: dict[str, Any]) -> tuple[int, int, str]:
    """Rows by id: numeric ids as numbers (a file's line numbers by default), before any others."""
    rid = str(row.get("id", ""))
    return (0, int(rid), rid) if rid.isascii() and rid.isdigit() else (1, 0, rid)


def n_problems_of(rows: Sequence[dict[str, Any]]) -> int:
    """How many problems `crossed_rows` gave (a task file may hold fewer than were asked for)."""
    return len({r["problem"] for r in rows})


def problem_key(task: Task, row: dict[str, Any], framing: Framing | None = None) -> str:
    """What identifies the problem a `crossed_rows` row asks, whatever its cell: for a built-in task
    the problem without cue and tag (the same under both splits); for a task file the row's prompt as
    the file gives it. Two rows with one key ask the same question (what SFT must hold out)."""
    bare = task.cue(row["condition"]).remove(row["prompt"])
    if task.framed:
        tag = (framing or Framing()).tag(row["split"])
        bare = bare[len(tag) :] if isinstance(bare, str) and bare.startswith(tag) else bare
    return bare if isinstance(bare, str) else json.dumps(bare, sort_keys=True)


def thresholds_of(config: Any, *names: str) -> dict[str, float]:
    """`{name: float(config.name)}` for the threshold fields `names` of an audit's config."""
    return {name: float(getattr(config, name)) for name in names}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
