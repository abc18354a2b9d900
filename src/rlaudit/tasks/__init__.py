"""Tasks with verifiable rewards: a prompt builder, a reference answer and a checker per task.

``get_task(name)`` returns a `Task`: ``arith`` (a+b, one integer answer, chance 0) or ``mcq`` (which of
four options A-D is a+b, chance 25%). Both frame prompts with the same split tags and condition cues.
``get_task(path)`` reads a task from the user's data (`rlaudit.tasks.files`), scored by a checker
(`rlaudit.tasks.checkers`).
"""

from collections.abc import Mapping
from pathlib import Path

from rlaudit.tasks.arith import ARITH, ArithConfig, arith_reward, is_correct, make_dataset
from rlaudit.tasks.base import CELLS, CONDITIONS, SPLITS, Framing, Task
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
    `rlaudit.tasks.checkers`); a ValueError naming the known tasks, or the bad file, row and column."""
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


__all__ = [
    "CELLS",
    "CONDITIONS",
    "SPLITS",
    "TASKS",
    "ArithConfig",
    "Framing",
    "McqConfig",
    "Task",
    "arith_reward",
    "get_task",
    "is_correct",
    "load_task_file",
    "make_dataset",
    "mcq_reward",
]
