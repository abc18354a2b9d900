from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlaudit.ingest import detect_format, ingest
from rlaudit.records import RecordError, RolloutStore


def log(step: int, reward: Any = 0.5, **kw: Any) -> dict[str, Any]:
    """One GRPOTrainer log entry as it lands in trainer_state.json's log_history."""
    return {
        "step": step,
        "epoch": step / 100,
        "loss": 0.01,
        "reward": reward,
        "reward_std": 0.25,
        "frac_reward_zero_std": 0.4,
        "entropy": 1.2,
        "completions/mean_length": 80.0,
        "rewards/accuracy_reward/mean": 0.3,
        "rewards/accuracy_reward/std": 0.4,
        "rewards/format_reward/mean": 0.2,
        **kw,
    }


def write_state(folder: Path, history: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trainer_state.json"
    path.write_text(
        json.dumps(
            {"global_step": max((h.get("step", 0) for h in history), default=0), "log_history": history}
        )
    )
    return path


def metrics(store: RolloutStore) -> list[dict[str, Any]]:
    con = store.connect()
    try:
        rows = con.sql("SELECT * FROM metrics ORDER BY step").to_arrow_table().to_pylist()
    finally:
        con.close()
    for r in rows:
        r["components"] = dict(r["components"]) if r["components"] is not None else None
    return rows


def test_metrics_from_log_history(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "grpo-run"
    state = write_state(
        out,
        [
            log(10),
            {"step": 10, "eval_reward": 0.9, "eval_loss": 0.1},  # eval logs are not training metrics
            log(20, reward=None, **{"rewards/format_reward/mean": None}),  # TRL logs None when all NaN
            {"step": 20, "train_runtime": 12.0, "train_loss": 0.02},
        ],
    )
    assert detect_format(out) == "trl-state"
    result = ingest(out, store)
    assert result.metrics_only and result.rows_added == 2
    note = " ".join(result.notes)
    for what in ("all-fail vs all-pass", "diversity", "target/control", "sample completions"):
        assert what in note
    assert store.count() == 0 and store.has_metrics()
    a, b = metrics(store)
    assert (a["run"], a["step"], a["reward_mean"], a["reward_std"]) == ("grpo-run", 10, 0.5, 0.25)
    assert (a["frac_zero_std"], a["entropy"], a["length_mean"]) == (0.4, 1.2, 80.0)
    assert a["components"] == {"accuracy_reward": 0.3, "format_reward": 0.2}
    assert a["source"] == str(state)
    assert b["reward_mean"] is None and b["components"] == {"accuracy_reward": 0.3}


def test_latest_checkpoint_is_used(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "run"
    write_state(out / "checkpoint-9", [log(9)])
    write_state(out / "checkpoint-10", [log(9), log(10)])  # numerically the latest, not lexicographically
    (out / "checkpoint-11").mkdir()  # no trainer_state.json: ignored
    assert detect_format(out) == "trl-state"
    assert ingest(out, store).rows_added == 2
    assert {r["run"] for r in metrics(store)} == {"run"}


def test_checkpoint_folder_and_state_file(tmp_path: Path, store: RolloutStore) -> None:
    state = write_state(tmp_path / "run" / "checkpoint-5", [log(5)])
    assert detect_format(state) == "trl-state"
    ingest(state.parent, store)
    assert [(r["run"], r["step"]) for r in metrics(store)] == [("run", 5)]


def test_reingest_and_later_checkpoint_add_only_new_steps(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "run"
    write_state(out / "checkpoint-2", [log(1), log(2)])
    assert ingest(out, store).rows_added == 2
    again = ingest(out, store)
    assert (again.rows_added, again.files_skipped, again.metrics_only) == (0, 1, True)
    write_state(out / "checkpoint-4", [log(1), log(2), log(3), log(4)])
    assert ingest(out, store).rows_added == 2
    assert [r["step"] for r in metrics(store)] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("history", "parts"),
    [
        pytest.param([{"step": 1, "loss": 0.3}], ["no log_history entry has a 'reward'"], id="no-reward"),
        pytest.param([], ["no log_history entry has a 'reward'"], id="empty-history"),
        pytest.param([log(1), log(2, reward="high")], ["log_history[1]", "'reward'"], id="string-reward"),
        pytest.param([log(1, entropy=True)], ["log_history[0]", "'entropy'"], id="bool-entropy"),
        pytest.param([log(1.5)], ["log_history[0]", "'step'"], id="float-step"),
    ],
)
def test_malformed_state(
    tmp_path: Path, store: RolloutStore, history: list[dict[str, Any]], parts: list[str]
) -> None:
    state = write_state(tmp_path / "run", history)
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path / "run", store)
    msg = str(exc.value)
    assert str(state) in msg and all(p in msg for p in parts), msg
    assert not store.has_metrics() and store.sources() == []


def test_not_json_and_no_state(tmp_path: Path, store: RolloutStore) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "trainer_state.json").write_text('{"log_history": [')
    with pytest.raises(RecordError, match=r"trainer_state\.json"):
        ingest(tmp_path / "run", store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordError, match=r"no trainer_state\.json"):
        ingest(tmp_path / "empty", store, fmt="trl-state")
    assert not store.has_metrics() and store.sources() == []
