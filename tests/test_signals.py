import json
import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.signals import POOLED, compute_signals


def _signals(tmp_path: Path, rows: list[dict]):
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = RolloutStore(tmp_path / "store")
    ingest(path, store)
    return compute_signals(store)


def _row(signals, step=0, split="all", condition=POOLED) -> dict:
    t = signals.steps
    mask = pc.and_(
        pc.and_(pc.equal(t["step"], step), pc.equal(t["split"], split)), pc.equal(t["condition"], condition)
    )
    (row,) = t.filter(mask).to_pylist()
    return row


def _group(
    step: int, prompt: str, rewards: list[float], completions: list[str] | None = None, **extra
) -> list[dict]:
    completions = completions or [f"answer {i}" for i in range(len(rewards))]
    return [
        {"step": step, "prompt": prompt, "completion": c, "reward": r, **extra}
        for r, c in zip(rewards, completions, strict=True)
    ]


def test_zero_variance_groups_split_into_all_fail_and_all_pass(tmp_path):
    rows = _group(0, "a", [0, 0, 0, 0]) + _group(0, "b", [1, 1, 1, 1]) + _group(0, "c", [0, 1, 0, 1])
    r = _row(_signals(tmp_path, rows))
    assert r["n_groups"] == 3 and r["n_rollouts"] == 12
    assert r["frac_zero_std"] == pytest.approx(2 / 3)
    assert r["frac_all_fail"] == pytest.approx(1 / 3)
    assert r["frac_all_pass"] == pytest.approx(1 / 3)
    assert r["pass_rate"] == pytest.approx(6 / 12)
    # chance at p = 0.5 for groups of 4: 0.5^4 + 0.5^4
    assert r["expected_homogeneous"] == pytest.approx(0.125)
    assert r["expected_all_fail"] == pytest.approx(0.0625)
    assert r["reward_std"] == pytest.approx(0.5)


def test_unbiased_pass_at_k_matches_the_formula(tmp_path):
    # n = 8 samples, c = 2 correct: pass@k = 1 - C(6, k) / C(8, k)
    rows = _group(0, "a", [1, 1, 0, 0, 0, 0, 0, 0])
    r = _row(_signals(tmp_path, rows))
    for k in (2, 4, 8):
        assert r[f"pass_at_{k}"] == pytest.approx(1 - math.comb(6, k) / math.comb(8, k))
    assert r["pass_at_16"] is None  # k larger than the group


def test_diversity_within_groups(tmp_path):
    rows = _group(0, "a", [0, 0, 0, 0], ["x y", "x y", "x y", "x y"]) + _group(
        0, "b", [0, 0, 1, 1], ["a b", "c d", "e f", "g h"]
    )
    r = _row(_signals(tmp_path, rows))
    assert r["unique_frac"] == pytest.approx((1 / 4 + 1) / 2)
    assert r["distinct_1"] == pytest.approx((2 / 8 + 1) / 2)
    assert r["distinct_2"] == pytest.approx((1 / 4 + 1) / 2)
    assert r["pairwise_sim"] == pytest.approx((1 + 0) / 2)
    assert r["length_mean"] == pytest.approx(2)


def test_nan_rewards_are_unscored_not_zero(tmp_path):
    rows = [*_group(0, "a", [1.0, 0.0]), {"step": 0, "prompt": "a", "completion": "z", "reward": None}]
    r = _row(_signals(tmp_path, rows))
    assert r["reward_mean"] == pytest.approx(0.5)
    assert r["n_rollouts"] == 3


def test_correct_field_defines_success_over_shaped_rewards(tmp_path):
    rows = [
        {"step": 0, "prompt": "a", "completion": f"c{i}", "reward": 0.3 * i, "correct": i == 2}
        for i in range(4)
    ]
    signals = _signals(tmp_path, rows)
    assert signals.success_known
    assert _row(signals)["pass_rate"] == pytest.approx(0.25)


def test_non_binary_rewards_without_correct_leave_pass_unknown(tmp_path):
    rows = [{"step": 0, "prompt": "a", "completion": f"c{i}", "reward": 0.3 * i} for i in range(4)]
    signals = _signals(tmp_path, rows)
    assert not signals.success_known
    assert _row(signals)["pass_rate"] is None


def test_conditions_are_pooled_and_separate(tmp_path):
    rows = _group(0, "a", [1, 1], split="target", condition="train_cue") + _group(
        0, "b", [0, 0], split="target", condition="deploy_cue"
    )
    signals = _signals(tmp_path, rows)
    assert _row(signals, split="target", condition="train_cue")["pass_rate"] == 1
    assert _row(signals, split="target", condition="deploy_cue")["pass_rate"] == 0
    assert _row(signals, split="target")["pass_rate"] == 0.5
    steps, values = signals.series("pass_rate", split="target")
    assert list(steps) == [0] and np.allclose(values, [0.5])


def test_families_mask_numbers(tmp_path):
    rows = []
    for step in range(3):
        rows += _group(step, f"[t] {step}+{step + 1}=", [0, 0], ["7", "7"])
        rows += _group(step, f"[c] {step}+{step + 2}=", [1, 0], ["1", "2"])
    fams = {r["family"]: r for r in _signals(tmp_path, rows).families.to_pylist()}
    assert set(fams) == {"[t] #+#=", "[c] #+#="}
    assert fams["[t] #+#="]["n_groups"] == 3 and fams["[t] #+#="]["frac_all_fail"] == 1.0
    assert fams["[c] #+#="]["pass_rate"] == pytest.approx(0.5)


def test_reward_components_per_step(tmp_path):
    rows = [
        {"step": s, "prompt": "a", "completion": "x", "reward": 1.5, "rewards": {"acc": 1.0, "fmt": 0.5}}
        for s in range(2)
    ]
    comps = _signals(tmp_path, rows).components.to_pylist()
    assert {(c["step"], c["component"], c["mean"]) for c in comps} == {
        (0, "acc", 1.0),
        (0, "fmt", 0.5),
        (1, "acc", 1.0),
        (1, "fmt", 0.5),
    }
