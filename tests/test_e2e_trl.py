"""End to end: a real TRL GRPO run on the tiny model, its completions log ingested into a RolloutStore.

Checks the contract the monitor relies on: every rollout the trainer generated is stored exactly once,
under the step TRL logged it at, with the reward the reward function returned and the `split` it logged
through TRL's `log_extra`.

What TRL 1.16 writes (`GRPOTrainer.log`): at every logging step, the last `generation_batch_size`
rollouts, labelled with the global step reached *after* the optimizer step they fed (the first batch is
`step == 1`). By default `steps_per_generation == gradient_accumulation_steps`, so a generation batch is
one optimizer step's rollouts and `logging_steps=1` writes each exactly once. With `num_iterations > 1`
(or `steps_per_generation > gradient_accumulation_steps`) one batch feeds several steps and TRL writes
it again under each: the ingest stores it once, under the first. (With `logging_steps > 1` the batches
of the steps in between are never written at all: nothing to test, nothing to recover.)
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("trl")

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.tasks.arith import make_dataset

# transformers 5 deprecates a name TRL 1.16 reads at every step; nothing for us to act on.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

STEPS = 3
PROMPTS_PER_STEP = 2
NUM_GENERATIONS = 4


def _distinct_rows(n: int) -> list[dict[str, str]]:
    """`n` rows with distinct prompts, so that a group is exactly the rows of a step sharing a prompt."""
    rows = list({r["prompt"]: r for r in make_dataset(4 * n, seed=0)}.values())[:n]
    assert len(rows) == n
    return rows


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="default"),
        pytest.param({"gradient_accumulation_steps": 2}, id="grad_accum_2"),
        pytest.param({"num_iterations": 2}, id="num_iterations_2"),
    ],
)
def test_trl_grpo_log_round_trips_through_ingest(tmp_path, tiny_model_builder, extra):
    model, tokenizer = tiny_model_builder()
    grad_accum = extra.get("gradient_accumulation_steps", 1)
    num_iterations = extra.get("num_iterations", 1)
    generation_batch = PROMPTS_PER_STEP * NUM_GENERATIONS * grad_accum
    rows = _distinct_rows(STEPS * PROMPTS_PER_STEP * grad_accum)

    calls: list[list[tuple[str, str, float, str]]] = []  # one entry per generation batch

    def length_reward(prompts, completions, split, log_extra, **kwargs):
        # Distinct, exactly representable values (TRL keeps rewards as float32).
        rewards = [len(c) + (0.5 if s == "target" else 0.0) for c, s in zip(completions, split, strict=True)]
        log_extra("split", list(split))
        calls.append(list(zip(prompts, completions, rewards, split, strict=True)))
        return rewards

    out = tmp_path / "out"
    args = GRPOConfig(
        output_dir=str(out),
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=0,
        max_steps=STEPS,
        per_device_train_batch_size=PROMPTS_PER_STEP * NUM_GENERATIONS,
        num_generations=NUM_GENERATIONS,
        max_completion_length=4,
        learning_rate=1e-3,
        activation_checkpointing=False,
        shuffle_dataset=False,
        logging_steps=1,
        log_completions=True,
        num_completions_to_print=0,
        save_strategy="no",
        disable_tqdm=True,
        **extra,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[length_reward],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_state()

    n_batches = -(-STEPS // num_iterations)  # a batch is generated every num_iterations steps
    generated = n_batches * generation_batch
    assert len(calls) == n_batches and sum(len(c) for c in calls) == generated
    assert len(list((out / "completions").glob("completions_*.parquet"))) == STEPS  # one per logging step
    if not extra:
        assert generated == STEPS * generation_batch

    store = RolloutStore(tmp_path / "store")
    result = ingest(out, store)
    assert result.format == "trl"
    assert result.rows_added == generated
    assert store.count() == generated

    con = store.connect()
    stored = con.execute(
        "SELECT step, prompt, completion, reward, split, rewards['length_reward'] FROM rollouts"
    ).fetchall()
    expected = [
        (i * num_iterations + 1, p, c, r, s, r) for i, batch in enumerate(calls) for p, c, r, s in batch
    ]
    assert Counter(stored) == Counter(expected)

    groups = con.execute('SELECT step, "group", count(*) FROM rollouts GROUP BY ALL').fetchall()
    assert len(groups) == n_batches * PROMPTS_PER_STEP * grad_accum
    assert {n for _, _, n in groups} == {NUM_GENERATIONS}

    # Ingesting the same log again adds nothing.
    assert ingest(out, store).rows_added == 0
    assert store.count() == generated
