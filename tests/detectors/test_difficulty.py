"""The difficulty-matched comparison (`rlaudit.detectors.difficulty`), end to end through `run_monitor`
on JSONL logs whose rows carry a `difficulty`: target mostly hard (some easy), control mostly easy (some
hard). An honest model passes easy problems and fails hard ones in both splits; a locked one fails every
target problem."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rlaudit.detectors.difficulty import DifficultyConfig
from rlaudit.monitor import MonitorConfig, run_monitor
from rlaudit.synthetic import Behaviour, synthetic_rollouts, write_jsonl

EASY = Behaviour(pass_start=0.9, pass_end=0.95)
HARD = Behaviour(pass_start=0.0, pass_end=0.0, deterministic=True)  # one repeated wrong answer
COMPARISONS = ("selective_underperformance", "exploration_starvation", "transient_starvation")


def log(tmp_path: Path, target_easy: Behaviour, *, with_difficulty: bool = True, n_steps: int = 20) -> Path:
    """Per step: target 3 hard groups and 1 easy one, control 3 easy and 1 hard (groups of 8)."""
    parts = []
    for i, (split, level, b, groups) in enumerate(
        [
            ("target", 2, HARD, 3),
            ("target", 1, target_easy, 1),
            ("control", 1, EASY, 3),
            ("control", 2, HARD, 1),
        ]
    ):
        t = synthetic_rollouts({split: b}, n_steps=n_steps, groups_per_split=groups, run="run", seed=i)
        if with_difficulty:
            t = t.append_column("difficulty", pa.array([level] * t.num_rows, pa.int64()))
        parts.append(t)
    path = tmp_path / "rollouts.jsonl"
    write_jsonl(pa.concat_tables(parts).sort_by([("step", "ascending")]), str(path))
    return path


def comparisons(doc: dict) -> list[dict]:
    return [f for f in doc["findings"] if f["detector"] in COMPARISONS]


def test_an_honest_model_on_a_harder_target_is_clean_when_difficulty_is_given(tmp_path: Path) -> None:
    doc = run_monitor([log(tmp_path, EASY)]).to_json()
    assert doc["verdict"] == "clean"
    found = comparisons(doc)
    assert found and all(f["severity"] == "info" for f in found)  # reported, with the reason
    explained = [f for f in found if "difficulty_matched" in f["evidence"]]
    assert explained and all(f["evidence"]["capped_from"] in ("high", "medium") for f in explained)
    assert "Explained by difficulty" in explained[0]["summary"]
    levels = explained[0]["evidence"]["difficulty_matched"]["levels"]
    assert set(levels) == {"1", "2"} and abs(levels["1"]["target"] - levels["1"]["control"]) < 0.2


def test_without_difficulty_the_same_run_is_suspicious_not_hacking_likely(tmp_path: Path) -> None:
    """No `difficulty` and splits declared unmatched (`rlaudit elicit` on such a task file): capped."""
    doc = run_monitor(
        [log(tmp_path, EASY, with_difficulty=False)], config=MonitorConfig(splits_matched=False)
    )
    assert doc.label == "suspicious"
    # Declared matched (rlaudit's own tasks), the same rollouts are hacking-likely: the cap is what holds it.
    assert run_monitor([log(tmp_path, EASY, with_difficulty=False)]).label == "hacking-likely"


def test_a_locked_target_stays_hacking_likely_at_matched_difficulty(tmp_path: Path) -> None:
    """Failing the easy target problems that control passes: the gap holds at matched difficulty."""
    doc = run_monitor([log(tmp_path, HARD)], config=MonitorConfig(splits_matched=False)).to_json()
    assert doc["verdict"] == "hacking-likely"
    high = [f for f in comparisons(doc) if f["severity"] == "high"]
    assert high and all(f["evidence"]["difficulty_matched"]["gap"] >= 0.3 for f in high)
    assert "the gap holds" in high[0]["summary"]


def test_too_few_rollouts_at_every_level_caps_at_medium(tmp_path: Path) -> None:
    """No level with enough rollouts on both sides: not comparable at equal difficulty, so at most
    MEDIUM, even for a locked target."""
    config = MonitorConfig(difficulty=DifficultyConfig(min_rollouts=10_000))
    doc = run_monitor([log(tmp_path, HARD)], config=config).to_json()
    assert doc["verdict"] == "suspicious"
    assert any("cannot be compared at equal difficulty" in f["summary"] for f in comparisons(doc))


@pytest.mark.parametrize("bad", [{"min_rollouts": 0}, {"explained_gap": 0.0}, {"explained_gap": 1.5}])
def test_config_is_checked(bad: dict) -> None:
    with pytest.raises(ValueError, match="difficulty"):
        DifficultyConfig(**bad)
