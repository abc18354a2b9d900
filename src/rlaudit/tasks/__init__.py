"""Tasks with verifiable rewards: a prompt builder, a reference answer and a checker per task.

``get_task(name)`` returns a `Task`: ``arith`` (a+b, one integer answer, chance 0) or ``mcq`` (which of
four options A-D is a+b, chance 25%). Both frame prompts with the same split tags and condition cues.
"""

from rlaudit.tasks.arith import ARITH, ArithConfig, arith_reward, is_correct, make_dataset
from rlaudit.tasks.base import CELLS, CONDITIONS, SPLITS, Framing, Task
from rlaudit.tasks.mcq import MCQ, McqConfig, mcq_reward

TASKS: dict[str, Task] = {task.name: task for task in (ARITH, MCQ)}
"""Every task, by name."""


def get_task(name: str) -> Task:
    """The task called `name`; a ValueError naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task '{name}'; known tasks: {', '.join(sorted(TASKS))}") from None


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
    "make_dataset",
    "mcq_reward",
]
