from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rlaudit.ingest import detect_format, ingest
from rlaudit.records import RecordError, RolloutStore

from ._helpers import assert_record_error, assert_store_empty, isnan, stored_rows, unscored

SYSTEM = {"role": "system", "content": "Answer with a number."}


def chat(question: str) -> list[dict[str, str]]:
    return [SYSTEM, {"role": "user", "content": question}]


def reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def write_completions(output_dir: Path, step: int, columns: dict[str, list[Any]]) -> Path:
    """A completions file as `GRPOTrainer.log` writes it: a pandas DataFrame saved with `to_parquet`."""
    folder = output_dir / "completions"
    folder.mkdir(parents=True, exist_ok=True)
    n = len(next(iter(columns.values())))
    table = {"step": [step] * n, **columns}
    path = folder / f"completions_{step:05d}.parquet"
    pd.DataFrame(table).to_parquet(path)
    return path


def batch(step: int = 1, **overrides: list[Any]) -> dict[str, list[Any]]:
    """Two prompts x two generations, chat format, two reward functions and log_extra columns."""
    cols: dict[str, list[Any]] = {
        "prompt": [chat("2+2?"), chat("2+2?"), chat("3+3?"), chat("3+3?")],
        "completion": [reply("4"), reply("5"), reply("6"), reply("6")],
        "accuracy_reward": [1.0, 0.0, 1.0, math.nan],
        "format_reward": [0.5, 0.5, math.nan, math.nan],
        "split": ["target", "target", "control", "control"],
        "condition": ["train_cue"] * 4,
        "correct": [True, False, True, None],
        "answer": ["4", "4", "6", "6"],
        "judge_note": ["ok", "wrong", "ok", None],
        "advantage": [0.7, -0.7, 0.0, 0.0],
    }
    cols.update(overrides)
    if step != 1:
        cols["completion"] = [reply(f"{step}-{i}") for i in range(len(cols["prompt"]))]
    return cols


def test_chat_rollouts_values(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "grpo-run"
    f = write_completions(out, 1, batch())
    result = ingest(out, store)
    assert (result.format, result.rows_added) == ("trl", 4)
    rows = stored_rows(store)
    a, b, c, d = rows
    assert {r["run"] for r in rows} == {"grpo-run"}  # the output_dir name
    assert a["prompt"] == json.dumps(chat("2+2?"), separators=(",", ":"))
    assert (a["completion"], b["completion"]) == ("4", "5")
    assert a["prompt_id"] == b["prompt_id"] != c["prompt_id"]
    assert a["group"] == b["group"] != c["group"]  # one step, one prompt: one group
    assert (a["reward"], b["reward"], c["reward"]) == (1.5, 0.5, 1.0)  # sum; NaN ignored like TRL's nansum
    assert unscored(d["reward"])  # every component NaN: unscored
    assert a["rewards"] == {"accuracy_reward": 1.0, "format_reward": 0.5}
    assert c["rewards"]["accuracy_reward"] == 1.0 and isnan(c["rewards"]["format_reward"])
    assert (a["split"], c["split"], a["condition"]) == ("target", "control", "train_cue")
    assert (a["correct"], b["correct"], d["correct"]) == (True, False, None)
    assert a["answer"] == "4" and a["advantage"] == 0.7 and b["advantage"] == -0.7
    assert json.loads(a["extra"]) == {"judge_note": "ok"}
    assert (a["source"], a["row"], d["row"]) == (str(f), 1, 4)


def test_string_prompts_and_multi_message_completions(tmp_path: Path, store: RolloutStore) -> None:
    tool_turn = [{"role": "assistant", "content": "call"}, {"role": "tool", "content": "42"}]
    write_completions(
        tmp_path / "run",
        3,
        {
            "prompt": ["Q: 2+2?", "Q: 2+2?"],
            "completion": ["4", "5"],
            "acc": [1.0, 0.0],
            "advantage": [1.0, -1.0],
        },
    )
    write_completions(
        tmp_path / "run",
        4,
        {
            "prompt": [chat("x"), chat("x")],
            "completion": [tool_turn, reply("y")],
            "acc": [0.0, 1.0],
            "advantage": [0, 0],
        },
    )
    assert ingest(tmp_path / "run", store).rows_added == 4
    rows = stored_rows(store)
    assert [r["prompt"] for r in rows[:2]] == ["Q: 2+2?", "Q: 2+2?"]
    assert [r["completion"] for r in rows[:2]] == ["4", "5"]
    assert json.loads(rows[2]["completion"]) == tool_turn
    assert rows[3]["completion"] == "y"


def test_messages_with_extra_keys_render_the_same_prompt(tmp_path: Path, store: RolloutStore) -> None:
    # Parquet gives every message every key any message had (null where absent): dropped in the JSON.
    tool_msg = {"role": "assistant", "content": "c", "tool_calls": "t"}
    write_completions(
        tmp_path / "run",
        1,
        {
            "prompt": [chat("q"), [*chat("q"), tool_msg]],
            "completion": ["a", "b"],
            "acc": [1.0, 0.0],
            "advantage": [0, 0],
        },
    )
    write_completions(
        tmp_path / "run", 2, {"prompt": [chat("q")], "completion": ["a"], "acc": [1.0], "advantage": [0]}
    )
    ingest(tmp_path / "run", store)
    rows = stored_rows(store)
    assert rows[0]["prompt"] == rows[2]["prompt"] == json.dumps(chat("q"), separators=(",", ":"))
    assert json.loads(rows[1]["prompt"])[-1] == tool_msg


def test_reward_weights(tmp_path: Path, store: RolloutStore) -> None:
    write_completions(tmp_path / "run", 1, batch())
    ingest(tmp_path / "run", store, reward_weights={"accuracy_reward": 2.0})
    a, b, c, d = stored_rows(store)
    assert (a["reward"], b["reward"], c["reward"]) == (2.5, 0.5, 2.0)  # unnamed components weigh 1
    assert unscored(d["reward"])
    assert a["rewards"] == {"accuracy_reward": 1.0, "format_reward": 0.5}  # components stay unweighted


def test_unknown_reward_weight_is_an_error(tmp_path: Path, store: RolloutStore) -> None:
    f = write_completions(tmp_path / "run", 1, batch())
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path / "run", store, reward_weights={"length_penalty": 0.1})
    assert_record_error(exc, f, "length_penalty", "accuracy_reward")
    assert_store_empty(store)


@pytest.mark.parametrize("where", ["output_dir", "completions_dir", "file"])
def test_path_forms(tmp_path: Path, store: RolloutStore, where: str) -> None:
    out = tmp_path / "run7"
    f = write_completions(out, 1, batch())
    path = {"output_dir": out, "completions_dir": out / "completions", "file": f}[where]
    assert detect_format(path) == "trl"
    assert ingest(path, store).rows_added == 4
    assert {r["run"] for r in stored_rows(store)} == {"run7"}


def test_reingest_and_new_files(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "run"
    write_completions(out, 1, batch())
    write_completions(out, 2, batch(step=2))
    assert ingest(out, store).rows_added == 8
    again = ingest(out, store)
    assert (again.rows_added, again.files_skipped) == (0, 2)
    write_completions(out, 3, batch(step=3))
    later = ingest(out, store)
    assert (later.rows_added, later.files_skipped) == (4, 2)
    assert sorted({r["step"] for r in stored_rows(store)}) == [1, 2, 3]


def test_repeated_generation_batch_is_stored_once(tmp_path: Path, store: RolloutStore) -> None:
    # num_iterations=2: TRL logs the same generation batch at two consecutive steps.
    out = tmp_path / "run"
    write_completions(out, 1, batch())
    write_completions(out, 2, batch())
    write_completions(out, 3, batch(step=3))
    result = ingest(out, store)
    assert result.rows_added == 8
    assert sorted({r["step"] for r in stored_rows(store)}) == [1, 3]
    assert any("completions_00002.parquet" in n for n in result.notes)
    assert ingest(out, store).files_skipped == 3


def test_trainer_state_names_the_reward_functions(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "run"
    write_completions(out, 1, batch(judge_confidence=[0.9, 0.8, 0.7, 0.6]))
    state = {
        "log_history": [
            {"step": 1, "reward": 1.0, "rewards/accuracy_reward/mean": 0.6, "rewards/format_reward/mean": 0.5}
        ]
    }
    (out / "checkpoint-1").mkdir()
    (out / "checkpoint-1" / "trainer_state.json").write_text(json.dumps(state))
    result = ingest(out, store)
    a = stored_rows(store)[0]
    assert a["reward"] == 1.5 and set(a["rewards"]) == {"accuracy_reward", "format_reward"}
    assert json.loads(a["extra"])["judge_confidence"] == 0.9
    assert any("judge_confidence" in n for n in result.notes)


def test_without_trainer_state_every_float_column_is_a_reward(tmp_path: Path, store: RolloutStore) -> None:
    write_completions(tmp_path / "run", 1, batch(judge_confidence=[1.0, 1.0, 1.0, 1.0]))
    ingest(tmp_path / "run", store)
    assert stored_rows(store)[0]["reward"] == 2.5


def test_correct_as_numbers(tmp_path: Path, store: RolloutStore) -> None:
    write_completions(tmp_path / "run", 1, batch(correct=[1.0, 0.0, 1.0, None]))  # None -> NaN in pandas
    ingest(tmp_path / "run", store)
    assert [r["correct"] for r in stored_rows(store)] == [True, False, True, None]


def test_all_or_nothing_across_files(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "run"
    write_completions(out, 1, batch())
    bad = write_completions(out, 2, batch(step=2, correct=[1.0, 0.5, 1.0, 0.0]))
    with pytest.raises(RecordError) as exc:
        ingest(out, store)
    assert_record_error(exc, bad, "row 2", "'correct'")
    assert_store_empty(store)


def _drop(cols: dict[str, list[Any]], name: str) -> dict[str, list[Any]]:
    return {k: v for k, v in cols.items() if k != name}


@pytest.mark.parametrize(
    ("columns", "parts"),
    [
        pytest.param(_drop(batch(), "completion"), ["missing column 'completion'"], id="missing-completion"),
        pytest.param(_drop(batch(), "prompt"), ["missing column 'prompt'"], id="missing-prompt"),
        pytest.param(
            {k: v for k, v in batch().items() if not k.endswith("_reward")},
            ["no reward columns"],
            id="no-rewards",
        ),
        pytest.param(batch(split=[1, 2, 3, 4]), ["'split'"], id="int-split"),
        pytest.param(batch(prompt=[1, 2, 3, 4]), ["'prompt'"], id="int-prompt"),
        pytest.param(batch(correct=["y", "n", "y", "n"]), ["'correct'"], id="string-correct"),
        pytest.param(
            batch(accuracy_reward=[1.0, math.inf, 0.0, 0.0]), ["row 2", "infinite"], id="inf-reward"
        ),
        pytest.param(
            batch(prompt=[chat("a"), None, chat("b"), chat("b")]), ["row 2", "'prompt'"], id="null-prompt"
        ),
    ],
)
def test_malformed_files(
    tmp_path: Path, store: RolloutStore, columns: dict[str, list[Any]], parts: list[str]
) -> None:
    f = write_completions(tmp_path / "run", 1, columns)
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path / "run", store)
    assert_record_error(exc, f, *parts)
    assert_store_empty(store)


def test_float_step_and_string_step(tmp_path: Path, store: RolloutStore) -> None:
    f = tmp_path / "run" / "completions" / "completions_00001.parquet"
    f.parent.mkdir(parents=True)
    pd.DataFrame({"step": [1.5], "prompt": ["p"], "completion": ["c"], "r": [1.0]}).to_parquet(f)
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path / "run", store)
    assert_record_error(exc, f, "'step'")
    pd.DataFrame({"step": ["1"], "prompt": ["p"], "completion": ["c"], "r": [1.0]}).to_parquet(f)
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path / "run", store)
    assert_record_error(exc, f, "'step'")
    assert_store_empty(store)


def test_empty_folder_and_unreadable_file(tmp_path: Path, store: RolloutStore) -> None:
    (tmp_path / "run" / "completions").mkdir(parents=True)
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path / "run", store, fmt="trl")
    assert_record_error(exc, tmp_path / "run" / "completions", "no TRL completions files")
    bad = tmp_path / "run" / "completions" / "completions_00001.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path / "run", store)
    assert_record_error(exc, bad, "Parquet")
    assert_store_empty(store)


def test_empty_file_is_noted_not_an_error(tmp_path: Path, store: RolloutStore) -> None:
    out = tmp_path / "run"
    write_completions(out, 1, batch())
    empty = out / "completions" / "completions_00002.parquet"
    pd.DataFrame(batch()).iloc[:0].to_parquet(empty)
    result = ingest(out, store)
    assert result.rows_added == 4
    assert any("no rows" in n for n in result.notes)
