import copy

import pytest

pytest.importorskip("trl")

from rlaudit.organisms.recipe import task_rows
from rlaudit.tasks import get_task
from rlaudit.training.grpo import GRPORunConfig, run_grpo

RUN = {"prompts_per_step": 2, "num_generations": 2}


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(model, before):
    return any((v - before[k]).abs().max() > 0 for k, v in model.state_dict().items())


def test_a_run_leaves_no_trainer_state_on_the_model_and_a_copy_made_after_it_learns(tiny_model_builder):
    """accelerate binds a wrapped forward to the instance it prepares; a deep copy of a model left that
    way computes its loss through the original's weights and never learns (the organisms' verification
    after hardening read "resisted" for that reason)."""
    model, tokenizer = tiny_model_builder()
    rows = task_rows(["arith"], 16, seed=0)
    reward = get_task("arith").reward
    own = set(vars(model))
    summary = run_grpo(
        model,
        tokenizer,
        rows,
        reward,
        GRPORunConfig(steps=1, lr=1e-3, **RUN),
        seed=0,
        max_completion_length=4,
    )
    assert set(vars(model)) == own and not model.training
    assert summary["steps"] == 1 and len(summary["reward_per_step"]) == 1
    assert len(summary["zero_std_per_step"]) == 1 and 0 <= summary["zero_std_per_step"][0] <= 1

    original = weights(model)
    trial = copy.deepcopy(model)
    before = weights(trial)
    # A reward that varies within every group, so the copy gets a gradient at each step.
    varied = lambda completions, **kw: [float(i % 2) for i in range(len(completions))]  # noqa: E731
    run_grpo(
        trial,
        tokenizer,
        rows,
        varied,
        GRPORunConfig(steps=2, lr=1e-2, **RUN),
        seed=1,
        max_completion_length=4,
    )
    assert changed(trial, before), "the copy's own weights must be what the second run trains"
    assert not changed(model, original), "the second run must not train the model it was copied from"
