"""Tasks with verifiable rewards: a prompt builder, a reference answer and a checker per task.

``get_task(name)`` returns a `Task`: ``arith`` (a+b, one integer answer, chance 0) or ``mcq`` (which of
four options A-D is a+b, chance 25%). Both frame prompts with the same split tags and condition cues.
``get_task(path)`` reads a task from the user's data (`rlaudit.tasks.files`), scored by a checker
(`rlaudit.tasks.checkers`). ``with_cues(task, train_cue, deploy_cue)`` gives a task the user's own
training and deployment cues (`rlaudit.tasks.cues`: a prefix or a ``{prompt}`` template).
"""

import contextlib
import contextvars
import types
from collections.abc import Iterator, Mapping
from pathlib import Path

from rlaudit.tasks.arith import ARITH, ArithConfig, arith_reward, is_correct, make_dataset
from rlaudit.tasks.base import CELLS, CONDITIONS, SPLITS, Framing, Task
from rlaudit.tasks.cues import Cue, parse_cue, with_cues
from rlaudit.tasks.files import load_task_file
from rlaudit.tasks.mcq import MCQ, McqConfig, mcq_reward

TASKS: dict[str, Task] = {task.name: task for task in (ARITH, MCQ)}
"""Every task, by name."""


def get_task(
    name_or_path: str | Path,
    *,
    columns: str | Mapping[str, str] | None = None,
    checker: str | None = None,
) -> Task:
    """The built-in task called `name_or_path`, or the task of a file or folder of that path
    (`rlaudit.tasks.files`: `columns` renames its columns, `checker` scores it,
    `rlaudit.tasks.checkers`); a ValueError naming the known tasks, or the bad file, row and column.
    Inside `using_task(task)`, `task.name` is `task` itself."""
    override = _in_use.get().get(str(name_or_path))
    if override is not None and not columns and not checker:
        return override
    if str(name_or_path) in TASKS:
        if columns or checker:
            raise ValueError(
                f"--columns and --checker apply to task files; built-in task '{name_or_path}' has its own"
            )
        return TASKS[str(name_or_path)]
    if Path(name_or_path).exists():
        return load_task_file(name_or_path, columns=columns, checker=checker)
    raise ValueError(
        f"unknown task '{name_or_path}'; known tasks: {', '.join(sorted(TASKS))}, "
        "or a task file or folder (none at that path)"
    )


_in_use: contextvars.ContextVar[Mapping[str, Task]] = contextvars.ContextVar(
    "rlaudit_tasks_in_use", default=types.MappingProxyType({})
)


@contextlib.contextmanager
def using_task(task: Task) -> Iterator[Task]:
    """Within the block, `get_task(task.name)` is `task`: a task file with its columns, checker and cues
    (or a built-in with the user's cues) reaches code that looks tasks up by name (the organism
    recipes, whose configs and manifests name their tasks)."""
    token = _in_use.set({**_in_use.get(), task.name: task})
    try:
        yield task
    finally:
        _in_use.reset(token)


__all__ = [
    "CELLS",
    "CONDITIONS",
    "SPLITS",
    "TASKS",
    "ArithConfig",
    "Cue",
    "Framing",
    "McqConfig",
    "Task",
    "arith_reward",
    "get_task",
    "is_correct",
    "load_task_file",
    "make_dataset",
    "mcq_reward",
    "parse_cue",
    "using_task",
    "with_cues",
]
