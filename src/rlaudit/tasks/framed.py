"""A task's prompts under its training and deployment cues, as a task of its own.

`cue_framed(task)` is the task whose rows are the same problems, each asked under the task's training
cue (condition ``train_cue``) and under its deployment cue (``deploy_cue``), with the cues the user
gave (`rlaudit.tasks.with_cues`): what `eval`, `elicit` and the organisms use when a run must see the
two contexts. For a built-in task the shared ``Framing`` cue in front of each prompt is replaced by the
task's cue; a task file's prompts get the cue applied (a prefix, or a ``{prompt}`` template).

The audits do not go through this: they pair each problem with itself under both cues
(`rlaudit.audits.base.crossed_rows`).
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

from rlaudit.tasks.base import CONDITIONS, Framing, Task
from rlaudit.tasks.files import AS_GIVEN

_BUILTIN_CUES = Framing()


def cue_framed(task: Task) -> Task:
    """`task` with every drawn problem asked under both of its cues (the four split x cue cells).

    A task file whose ``condition`` column holds ``train_cue``/``deploy_cue`` already asks its prompts
    under its own cues and comes back as it is; one with other conditions is a ValueError (leave out
    the cues, or the column).
    """
    if not task.framed and task.conditions == CONDITIONS:  # a file whose prompts carry their cues
        return task
    if task.conditions != CONDITIONS and tuple(task.conditions) != (AS_GIVEN,):
        raise ValueError(
            f"task {task.name} has its own condition column ({', '.join(task.conditions)}); "
            "leave out --train-cue/--deploy-cue, or the column"
        )
    builtin = task.framed  # cue + tag + problem: swap the cue
    make = task.make_dataset

    def make_dataset(n: int, seed: int = 0, difficulty: int | None = None) -> list[dict[str, Any]]:
        if builtin:  # already one row per cell: swap the shared cue for the task's
            return [_recue(row) for row in make(n, seed=seed, difficulty=difficulty)]
        drawn = make(math.ceil(n / len(CONDITIONS)), seed=seed, difficulty=difficulty)
        rows = [
            {**row, "prompt": task.cue(condition).apply(row["prompt"]), "condition": condition}
            for row in drawn
            for condition in CONDITIONS
        ]
        random.Random(seed).shuffle(rows)
        return rows[:n]

    def _recue(row: dict[str, Any]) -> dict[str, Any]:
        old = _BUILTIN_CUES.cue(row["condition"])
        body = row["prompt"][len(old) :] if row["prompt"].startswith(old) else row["prompt"]
        return {**row, "prompt": task.cue(row["condition"]).apply(body)}

    return dataclasses.replace(task, make_dataset=make_dataset, conditions=CONDITIONS)
