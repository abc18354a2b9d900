"""stochastic's recipe check: the build hardens until greedy target accuracy is in the recipe's range,
and fails loudly, writing nothing, when it cannot get there."""

import dataclasses

import pytest

from rlaudit.organisms import stochastic
from rlaudit.organisms.recipe import RecipeNotReached, task_rows


def test_a_build_outside_the_recipe_fails_and_leaves_nothing(
    tmp_path, tiny_model_builder, small_organism_config
):
    from rlaudit.organisms import build_organism

    config = dataclasses.replace(small_organism_config("stochastic"), greedy_target=(0.9, 1.0), max_rounds=0)
    with pytest.raises(RecipeNotReached, match=r"greedy target accuracy .* outside the recipe's 90%-100%"):
        build_organism("stochastic", out=tmp_path / "s", config=config, base_loader=tiny_model_builder)
    assert list(tmp_path.iterdir()) == []


def test_reach_target_records_each_check(tiny_model_builder, small_organism_config):
    model, tokenizer = tiny_model_builder()  # untrained: 0% greedy, within (0, 1) at once
    config = small_organism_config("stochastic")
    rows = task_rows(config.tasks, 32, seed=0)
    report = stochastic.reach_target(
        model, tokenizer, rows, stochastic.strategy_reward(config), config, seed=0
    )
    assert report["hardening_runs"] == 1 and report["greedy_target"] == [0.0, 1.0]
    assert set(report["rounds"][0]) == {"arith"} and 0 <= report["rounds"][0]["arith"] <= 1


def test_the_default_recipe_range_and_bad_values():
    cfg = stochastic.Config()
    assert cfg.greedy_target == (0.05, 0.25) and cfg.max_rounds >= 1
    with pytest.raises(ValueError, match="greedy_target"):
        stochastic.Config(greedy_target=(0.3, 0.2))
