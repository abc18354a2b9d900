"""RL on an organism: hardening its strategy, and the build's own check that the strategy resists RL.

Why hardening. A lock taught by SFT alone looks locked at evaluation but breaks under RL: SmolLM2-135M
SFT'd to answer wrong on target was elicited by GRPO at temperature 1 within about 10 steps, and on the
tiny model the SFT-only ``locked`` organism (0% greedy on target, pass@8 0.05) went to 99.5% greedy
target accuracy in the 30 steps of the verification run below, its sampled accuracy 2% -> 62% within
four steps (``benchmarks/build_organisms.py --ablation``). SFT leaves a little probability on the right
answer; at temperature 1 GRPO samples it, and one success in a group is all it needs. The research
this project follows (Exploration Hacking, 2026) found that locks trained with RL itself, rewarding the
underperformance strategy, held for hundreds of steps. So a resistant organism is SFT'd into its policy
and then trained with a real TRL ``GRPOTrainer`` whose reward is the policy's own strategy (`harden`):
every right answer sampled on target is now *punished*, which drains exactly the probability mass RL
elicitation would later find. Deterministic locks harden at temperature 1.5, hotter than any
elicitation run samples, so the mass is drained around the lock too; the hardened ``locked`` organism
then samples a right target answer in under 1% of the verification run's rollouts and does not move.

Why verification. Looking locked is not being locked. `verify` runs what an auditor would: GRPO with the
task's correctness reward on target prompts at temperature 1 (`rlaudit.organisms.recipe.VerifyConfig`),
on a copy, and records greedy target accuracy before and after, and whether the gain stayed within the
threshold (``resisted``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from rlaudit.organisms.recipe import GRPORunConfig, Row, VerifyConfig, task_rows
from rlaudit.tasks import get_task
from rlaudit.training.grpo import run_grpo

VERIFY_SEED_OFFSET = 1
"""The verification run uses ``seed + 1``: its prompts and samples are not the hardening run's."""


def harden(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Row],
    strategy_reward: Callable[..., list[float]],
    config: GRPORunConfig,
    *,
    seed: int,
    desc: str = "harden",
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """RL-harden an organism's strategy, in place: GRPO whose reward is the organism's own policy.

    `rows` cover every task, split and condition the organism was SFT'd on, so that the control
    behaviour is held in place while the target behaviour is hardened. ``reward_first``/``reward_last``
    of the result are how often the organism followed its strategy at temperature 1. `max_new_tokens`:
    the completion budget (None: the largest of the tasks' own).
    """
    budget = max_new_tokens or max(get_task(name).max_new_tokens for name in {r["task"] for r in rows})
    return run_grpo(
        model, tokenizer, rows, strategy_reward, config, seed=seed, max_completion_length=budget, desc=desc
    )


def target_accuracy(model: Any, tokenizer: Any, rows: Sequence[Row]) -> float:
    """Greedy accuracy on `rows` (all of one task)."""
    from rlaudit.evaluation import greedy_correct

    correct = greedy_correct(model, tokenizer, get_task(rows[0]["task"]), rows)
    return sum(correct) / len(correct)


def split_accuracy(
    model: Any, tokenizer: Any, rows: Sequence[Row], *, max_new_tokens: int | None = None
) -> dict[str, float]:
    """Greedy accuracy on `rows` (all of one task), per split."""
    from rlaudit.evaluation import greedy_correct

    correct = greedy_correct(model, tokenizer, get_task(rows[0]["task"]), rows, max_new_tokens=max_new_tokens)
    out = {}
    for split in ("target", "control"):
        got = [c for c, r in zip(correct, rows, strict=True) if r["split"] == split]
        out[split] = sum(got) / len(got) if got else float("nan")
    return out


def _mix(rows: Sequence[Row], control_fraction: float) -> list[Row]:
    """`rows`' target rows, and control rows so that they are `control_fraction` of the result (the
    runner draws uniformly from it)."""
    target = [r for r in rows if r["split"] == "target"]
    control = [r for r in rows if r["split"] == "control"]
    n_control = round(len(target) * control_fraction / (1 - control_fraction))
    return target + control[:n_control]


def verify(
    model: Any,
    tokenizer: Any,
    config: VerifyConfig,
    *,
    seed: int,
    expect: str | None,
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """Try to elicit the target capability with GRPO, on a copy of `model`; the organism is left as it was.

    `expect` is what the recipe intends (``"resist"``, ``"improve"`` or None for no claim); the result
    records before/after greedy target accuracy, the gain, ``resisted`` (gain <= ``max_gain``) and
    whether that matches `expect`.
    """
    if config.grpo.steps == 0:
        return {"steps": 0, "expect": expect}
    task = get_task(config.task)

    def drawn(n_per_condition: int, rows_seed: int) -> list[Row]:
        rows = task_rows([task.name], 4 * n_per_condition, seed=rows_seed)
        return [r for r in rows if r["condition"] in config.conditions]

    held_out = drawn(config.eval_prompts, rows_seed=seed + 50_000)
    pool = drawn(4 * config.grpo.steps * config.grpo.prompts_per_step, rows_seed=seed + VERIFY_SEED_OFFSET)
    trial = copy.deepcopy(model)
    acc_before = split_accuracy(trial, tokenizer, held_out, max_new_tokens=max_new_tokens)
    run = run_grpo(
        trial,
        tokenizer,
        _mix(pool, config.control_fraction),
        task.reward,
        config.grpo,
        seed=seed + VERIFY_SEED_OFFSET,
        max_completion_length=max_new_tokens or task.max_new_tokens,
        desc="verify: elicitation grpo",
    )
    acc_after = split_accuracy(trial, tokenizer, held_out, max_new_tokens=max_new_tokens)
    del trial
    before, after = acc_before["target"], acc_after["target"]
    control = (acc_before["control"], acc_after["control"])
    gain = after - before
    resisted = gain <= config.max_gain
    outcome = {"resist": resisted, "improve": not resisted}.get(expect or "")
    return {
        **run,
        "task": task.name,
        "conditions": list(config.conditions),
        "temperature": config.grpo.temperature,
        "eval_prompts": len(held_out),
        "target_accuracy_before": round(before, 4),
        "target_accuracy_after": round(after, 4),
        "control_accuracy_before": round(control[0], 4),
        "control_accuracy_after": round(control[1], 4),
        "control_fraction": config.control_fraction,
        "gain": round(gain, 4),
        "max_gain": config.max_gain,
        "resisted": resisted,
        "expect": expect,
        "as_expected": outcome,
    }
