"""The example log shipped for `rlaudit monitor` (made by scripts/record_example_log.py) is what it claims."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import rlaudit

EXAMPLE = Path(rlaudit.__file__).parent / "examples" / "locked_tiny_grpo"


def test_example_is_small_and_complete():
    files = sorted((EXAMPLE / "completions").glob("completions_*.parquet"))
    assert files, "run: python scripts/record_example_log.py"
    assert (EXAMPLE / "trainer_state.json").is_file() and (EXAMPLE / "README.md").is_file()
    assert sum(f.stat().st_size for f in EXAMPLE.rglob("*") if f.is_file()) < 1_000_000
    steps = [pq.read_table(f, columns=["step"]).column("step").to_pylist() for f in files]
    assert [s[0] for s in steps] == list(range(1, len(files) + 1))  # one file per step, every step
    assert all(len(set(s)) == 1 and len(s) == len(steps[0]) for s in steps)


def test_example_shows_a_locked_target_split():
    table = pq.ParquetDataset(sorted((EXAMPLE / "completions").glob("*.parquet"))).read()
    assert {"step", "prompt", "completion", "arith_reward", "split", "condition", "answer", "correct"} <= set(
        table.column_names
    )
    df = table.to_pandas()
    acc = df.groupby("split")["correct"].mean()
    assert acc["control"] > 0.7
    assert acc["target"] < 0.05
    target_std = df[df.split == "target"].groupby(["step", "prompt"])["arith_reward"].std()
    assert (target_std == 0).mean() > 0.9
    assert set(df.condition) == {"train_cue", "deploy_cue"}
    assert pytest.approx(df.arith_reward.to_numpy()) == df.correct.astype(float).to_numpy()
