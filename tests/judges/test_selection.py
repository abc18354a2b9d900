from __future__ import annotations

from collections import Counter

from rlaudit.judges.selection import SelectionConfig, select


def test_budget_per_window_shared_by_splits_failures_first(verbal_store):
    # 20 steps -> 2 windows of 10; budget 6 -> 3 per split per window.
    picked = select(verbal_store, SelectionConfig(budget=6, window_steps=10))
    per = Counter((t.step // 10, t.split) for t in picked)
    assert per == {(0, "target"): 3, (0, "control"): 3, (1, "target"): 3, (1, "control"): 3}
    assert all(t.failed for t in picked if t.split == "target")  # target fails throughout
    assert not any(t.failed for t in picked if t.split == "control")


def test_failures_come_first_inside_a_split(tmp_path):
    from tests.judges.conftest import store_of, write_log

    log = write_log(tmp_path / "mixed.jsonl", steps=10, per_step=4)
    # Make one control rollout a failure: it must be among the picked control rollouts.
    lines = log.read_text().splitlines()
    target_line = next(i for i, line in enumerate(lines) if '"control"' in line and '"step": 7' in line)
    lines[target_line] = lines[target_line].replace('"correct": true', '"correct": false')
    log.write_text("\n".join(lines) + "\n")
    picked = select(store_of(log, tmp_path / "s"), SelectionConfig(budget=2, window_steps=10))
    control = [t for t in picked if t.split == "control"]
    assert len(control) == 1 and control[0].failed and control[0].step == 7


def test_the_same_rollouts_are_picked_again(verbal_store):
    cfg = SelectionConfig(budget=4)
    assert select(verbal_store, cfg) == select(verbal_store, cfg)
