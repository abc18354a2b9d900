from collections import Counter

import pytest

from rlaudit.tasks import CELLS, TASKS, ArithConfig, Task, get_task
from rlaudit.tasks.arith import make_dataset as arith_make_dataset
from rlaudit.tasks.base import Framing


def test_known_tasks():
    assert set(TASKS) == {"arith", "mcq"}
    assert get_task("arith").chance == 0.0
    assert get_task("mcq").chance == 0.25
    assert all(isinstance(t, Task) and t.name == name for name, t in TASKS.items())


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown task 'nope'; known tasks: arith, mcq"):
        get_task("nope")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_dataset_rows_are_balanced_framed_and_answer_themselves(name):
    task = get_task(name)
    rows = task.make_dataset(40, seed=0)
    assert len(rows) == 40
    assert Counter((r["split"], r["condition"]) for r in rows) == {cell: 10 for cell in CELLS}
    framing = Framing()
    for r in rows:
        assert set(r) == {"prompt", "answer", "split", "condition"}
        assert r["prompt"].startswith(framing.cue(r["condition"]) + framing.tag(r["split"]))
        assert task.is_correct(r["answer"], r["answer"])
        assert task.parse_answer(r["answer"]) == r["answer"]
        assert task.parse_answer("") is None
    assert task.make_dataset(40, seed=0) == rows
    assert task.make_dataset(40, seed=0, difficulty=task.default_difficulty) == rows


def _operands(rows: list[dict[str, str]]) -> list[int]:
    """Both operands of every row: the ``a+b`` right after the tag, before ``=`` (arith) or ``?`` (mcq)."""
    problems = [r["prompt"].split("] ", 1)[1].split("?")[0].rstrip("=") for r in rows]
    return [int(x) for p in problems for x in p.split("+")]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_difficulty_is_the_operand_range(name):
    task = get_task(name)
    assert max(_operands(task.make_dataset(200, seed=0, difficulty=2))) <= 2
    assert max(_operands(task.make_dataset(200, seed=0, difficulty=99))) > 9
    with pytest.raises(ValueError, match="max_operand"):
        task.make_dataset(4, difficulty=0)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_reward_is_a_named_trl_reward_that_logs_ground_truth(name):
    task = get_task(name)
    rows = task.make_dataset(4, seed=0)
    logged: dict[str, list] = {}
    rewards = task.reward(
        completions=[rows[0]["answer"], "", rows[2]["answer"], "zzz"],
        answer=[r["answer"] for r in rows],
        split=[r["split"] for r in rows],
        condition=[r["condition"] for r in rows],
        log_extra=lambda key, values: logged.setdefault(key, []).extend(values),
    )
    assert rewards == [1.0, 0.0, 1.0, 0.0]
    assert logged["correct"] == [True, False, True, False]
    assert set(logged) == {"split", "condition", "answer", "correct"}
    assert task.reward.__name__ == f"{name}_reward"  # TRL names the reward column after the function


def test_arith_keeps_its_module_api():
    # The registry wraps arith; the module-level functions (used by scripts and tests) still work.
    assert get_task("arith").make_dataset(20, seed=5) == arith_make_dataset(20, seed=5)
    assert ArithConfig(99).max_operand == 99  # max_operand stays the first positional field
    assert ArithConfig().tag("target") == "[bio] "
