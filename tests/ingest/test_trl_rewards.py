"""A TRL completions/ folder without trainer_state.json: reward functions told from float `log_extra`
columns by the logged advantages (`rlaudit.ingest.trl_rewards`), or a note that it cannot tell.

The slow test runs a real TRL GRPO loop with two reward functions and a float `log_extra` column and
ingests the completions folder TRL wrote, with no trainer_state.json beside it."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rlaudit.ingest import ingest
from rlaudit.ingest.trl_rewards import infer
from rlaudit.records import RolloutStore

from ._helpers import stored_rows


def grpo_table(n_groups: int = 6, size: int = 4, *, seed: int = 0, extra_constant: bool = False) -> pa.Table:
    """Rows as TRL logs them: two reward columns, a float extra, advantages from the rewards' sum
    centred per group and divided by the group's std + 1e-4 (TRL's default scaling), as float32."""
    rng = np.random.default_rng(seed)
    acc = rng.integers(0, 2, n_groups * size).astype(float)
    fmt = rng.choice([0.0, 0.5, 1.0], n_groups * size)
    extra = np.repeat(rng.random(n_groups), size) if extra_constant else rng.random(n_groups * size)
    total = (acc + fmt).reshape(n_groups, size)
    adv = (total - total.mean(1, keepdims=True)) / (total.std(1, ddof=1, keepdims=True) + 1e-4)
    return pa.table(
        {
            "step": [1] * (n_groups * size),
            "prompt": [f"q{g}" for g in range(n_groups) for _ in range(size)],
            "completion": [f"c{i}" for i in range(n_groups * size)],
            "accuracy_reward": acc,
            "format_reward": fmt,
            "judge_confidence": extra,
            "advantage": adv.reshape(-1).astype(np.float32).astype(float),
        }
    )


COLUMNS = ["accuracy_reward", "format_reward", "judge_confidence"]


def test_the_advantages_name_the_reward_columns():
    found = infer([grpo_table()], COLUMNS, None)
    assert found.rewards == ["accuracy_reward", "format_reward"], found.reason


def test_a_column_constant_in_every_group_cannot_be_told_apart():
    found = infer([grpo_table(extra_constant=True)], COLUMNS, None)
    assert found.rewards is None and "several sets" in found.reason


def test_unknown_weights_fit_no_subset():
    # The run weighted format_reward by 0.3; told nothing, no unit-weight subset reproduces it.
    table = grpo_table()
    acc, fmt = (np.array(table.column(c).to_pylist()) for c in ("accuracy_reward", "format_reward"))
    total = (acc + 0.3 * fmt).reshape(6, 4)
    adv = (total - total.mean(1, keepdims=True)) / (total.std(1, ddof=1, keepdims=True) + 1e-4)
    table = table.set_column(6, "advantage", pa.array(adv.reshape(-1)))
    assert infer([table], COLUMNS, None).rewards is None
    assert infer([table], COLUMNS, {"format_reward": 0.3}).rewards == ["accuracy_reward", "format_reward"]


def test_no_advantage_column_cannot_tell():
    found = infer([grpo_table().drop_columns(["advantage"])], COLUMNS, None)
    assert found.rewards is None and "no 'advantage' column" in found.reason


def write(out: Path, table: pa.Table) -> None:
    (out / "completions").mkdir(parents=True)
    table.to_pandas().to_parquet(out / "completions" / "completions_00001.parquet")


def test_ingest_leaves_the_extra_out_and_says_why(tmp_path: Path, store: RolloutStore):
    table = grpo_table()
    write(tmp_path / "run", table)
    result = ingest(tmp_path / "run", store)
    rows = stored_rows(store)
    assert set(rows[0]["rewards"]) == {"accuracy_reward", "format_reward"}
    acc, fmt = table.column("accuracy_reward").to_pylist(), table.column("format_reward").to_pylist()
    assert [r["reward"] for r in rows] == [a + f for a, f in zip(acc, fmt, strict=True)]
    assert "judge_confidence" in json.loads(rows[0]["extra"])
    assert any("told from other float columns" in n for n in result.notes)


def test_ingest_that_cannot_tell_sums_every_column_and_says_so(tmp_path: Path, store: RolloutStore):
    write(tmp_path / "run", grpo_table(extra_constant=True))
    result = ingest(tmp_path / "run", store)
    assert set(stored_rows(store)[0]["rewards"]) == set(COLUMNS)
    (note,) = [n for n in result.notes if "no trainer_state.json" in n]
    assert "judge_confidence" in note and "--reward-weights NAME=0" in note


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
def test_a_real_trl_run_without_trainer_state(tmp_path: Path, tiny_model_builder, store: RolloutStore):
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from rlaudit.tasks.arith import make_dataset

    model, tokenizer = tiny_model_builder()

    def length_reward(completions, **kwargs):
        return [float(len(c)) for c in completions]

    def digit_reward(completions, log_extra, **kwargs):
        # A float log_extra column that varies within groups and is no reward.
        log_extra("judge_confidence", [zlib.crc32(c.encode()) % 97 / 97 for c in completions])
        return [1.0 if any(ch.isdigit() for ch in c) else 0.0 for c in completions]

    out = tmp_path / "out"
    args = GRPOConfig(
        output_dir=str(out),
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=0,
        max_steps=3,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=6,
        learning_rate=1e-3,
        activation_checkpointing=False,
        logging_steps=1,
        log_completions=True,
        num_completions_to_print=0,
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[length_reward, digit_reward],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(24, seed=0)),
        processing_class=tokenizer,
    )
    trainer.train()
    assert not list(out.rglob("trainer_state.json"))
    result = ingest(out / "completions", store)
    rows = stored_rows(store)
    assert len(rows) == 24
    assert set(rows[0]["rewards"]) == {"length_reward", "digit_reward"}, result.notes
    for r in rows:
        assert math.isclose(r["reward"], sum(r["rewards"].values()), rel_tol=1e-6)
        assert "judge_confidence" in json.loads(r["extra"])


def test_a_step_column_of_lists_is_bad_input_not_a_crash(tmp_path: Path):
    """Found by the long fuzz (RLAUDIT_FUZZ_EXAMPLES=10000): a list-typed `step` beside two float
    columns and an `advantage` crashed the reward inference (exit 3); the ingest must say bad input."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from rlaudit.cli import app

    folder = tmp_path / "completions"
    folder.mkdir()
    table = pa.table(
        {
            "step": pa.array([None, []], pa.list_(pa.int64())),
            "prompt": ["p", "p"],
            "completion": ["a", "b"],
            "correctness": [1.0, 0.0],
            "format": [0.5, 0.0],
            "advantage": [0.7, -0.7],
        }
    )
    pq.write_table(table, folder / "completions_00001.parquet")
    res = CliRunner().invoke(app, ["monitor", str(folder), "--json", "--store", str(tmp_path / "store")])
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    assert "'step'" in res.stderr and len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "store").exists()
