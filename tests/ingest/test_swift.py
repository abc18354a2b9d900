"""ms-swift GRPO completions.jsonl.

ms-swift itself is not installed here (its import pulls modelscope and a training stack), so `log_line`
writes each line the way its writer does (swift/rlhf_trainers/grpo_trainer.py `GRPOTrainer.log` builds
the table; swift/utils/io_utils.py `JsonlWriter` appends `json.dumps(obj, ensure_ascii=False) + "\\n"`):
the columns in that key order, the step as a string on every row, NaN written bare."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from rlaudit.ingest import detect_format, ingest
from rlaudit.records import RecordError, RolloutStore
from tests.fuzzing import check_format, swift_lines

from ._helpers import assert_record_error, assert_store_empty, stored_rows, unscored


def log_line(
    path: Path,
    step: int,
    prompts: list[str],
    completions: list[str],
    rewards: dict[str, list[float]],
    advantages: list[float],
    **extras: list[Any],
) -> None:
    """Append one logging step's table, as ms-swift's GRPOTrainer.log and JsonlWriter do."""
    n = len(prompts)
    table = {
        "step": [str(step)] * n,
        "prompt": prompts,
        "completion": completions,
        **rewards,
        "advantages": advantages,
        **extras,
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(table, ensure_ascii=False) + "\n")


def run_dir(tmp_path: Path, weights: list[float] | None = None) -> Path:
    out = tmp_path / "v0-20261207-101010"
    out.mkdir()
    (out / "args.json").write_text(json.dumps({"rlhf_type": "grpo", "reward_weights": weights}))
    (out / "checkpoint-2").mkdir()  # a checkpoint's trainer_state.json must not make it metrics-only
    (out / "checkpoint-2" / "trainer_state.json").write_text(json.dumps({"log_history": []}))
    return out


def two_steps(out: Path) -> None:
    log_line(
        out / "completions.jsonl",
        1,
        [
            "<|im_start|>user\n2+2?",
            "<|im_start|>user\n2+2?",
            "<|im_start|>user\n3+3?",
            "<|im_start|>user\n3+3?",
        ],
        ["4", "5", "6 ✓", "?"],
        {"MathAccuracy": [1.0, 0.0, 1.0, math.nan], "Format": [1.0, 1.0, 0.0, math.nan]},
        [0.7, -0.7, 0.0, 0.0],
        solution=["4", "4", "6", "6"],
        num_turns=[1, 1, 2, 1],
        entropy=[0.5, 0.6, 0.4, 0.3],
    )
    log_line(
        out / "completions.jsonl",
        2,
        ["<|im_start|>user\n5+5?", "<|im_start|>user\n5+5?"],
        ["10", "11"],
        {"MathAccuracy": [1.0, 0.0], "Format": [0.0, 1.0]},
        [0.7, -0.7],
        solution=["10", "10"],
        num_turns=[1, 1],
        entropy=[0.2, 0.9],
    )


def test_an_output_dir_is_detected_as_swift_not_metrics_only(tmp_path: Path):
    out = run_dir(tmp_path)
    two_steps(out)
    assert detect_format(out) == "swift"
    assert detect_format(out / "completions.jsonl") == "swift"


def test_values_and_weighted_reward(tmp_path: Path, store: RolloutStore):
    out = run_dir(tmp_path, weights=[1.0, 0.5])
    two_steps(out)
    result = ingest(out, store)
    assert (result.format, result.rows_added) == ("swift", 6)
    assert any("reward_weights from args.json" in n for n in result.notes)
    a, b, c, d, e, _ = stored_rows(store)
    assert (a["run"], a["step"], a["completion"], e["step"]) == ("v0-20261207-101010", 1, "4", 2)
    assert (a["reward"], b["reward"], c["reward"]) == (1.5, 0.5, 1.0)
    assert unscored(d["reward"])  # every component NaN: unscored, not 0
    assert a["rewards"] == {"MathAccuracy": 1.0, "Format": 1.0}
    assert (a["advantage"], a["entropy"], a["answer"]) == (0.7, 0.5, "4")
    assert json.loads(c["extra"]) == {"num_turns": 2}  # a numeric extra is not a reward
    assert c["completion"] == "6 ✓"
    assert a["group"] == b["group"] != c["group"] == d["group"]


def test_without_args_json_the_weights_are_one_and_a_note_says_so(tmp_path: Path, store: RolloutStore):
    out = tmp_path / "run"
    out.mkdir()
    two_steps(out)
    result = ingest(out, store)
    assert stored_rows(store)[0]["reward"] == 2.0
    assert any("no args.json" in n for n in result.notes)


def test_user_weights_win(tmp_path: Path, store: RolloutStore):
    out = run_dir(tmp_path, weights=[1.0, 0.5])
    two_steps(out)
    ingest(out, store, reward_weights={"Format": 0.0})
    assert [r["reward"] for r in stored_rows(store)][:3] == [1.0, 0.0, 1.0]


def test_a_repeated_batch_is_stored_once(tmp_path: Path, store: RolloutStore):
    out = tmp_path / "run"
    out.mkdir()
    f = out / "completions.jsonl"
    for step in (1, 2):  # no new generation batch between the two logging steps
        log_line(f, step, ["p", "p"], ["a", "b"], {"Acc": [1.0, 0.0]}, [0.7, -0.7])
    log_line(f, 3, ["q", "q"], ["a", "b"], {"Acc": [0.0, 0.0]}, [0.0, 0.0])
    result = ingest(out, store)
    assert [r["step"] for r in stored_rows(store)] == [1, 1, 3, 3]
    assert any("repeat the previous line" in n for n in result.notes)


def test_a_growing_log_is_resumed(tmp_path: Path, store: RolloutStore):
    out = tmp_path / "run"
    out.mkdir()
    f = out / "completions.jsonl"
    log_line(f, 1, ["p", "p"], ["a", "b"], {"Acc": [1.0, 0.0]}, [0.7, -0.7])
    assert ingest(out, store).rows_added == 2
    log_line(f, 2, ["p", "p"], ["a", "b"], {"Acc": [1.0, 0.0]}, [0.7, -0.7])  # a repeat of step 1
    log_line(f, 3, ["q", "q"], ["c", "d"], {"Acc": [0.0, 1.0]}, [-0.7, 0.7])
    assert ingest(out, store).rows_added == 2
    assert [r["step"] for r in stored_rows(store)] == [1, 1, 3, 3]
    assert ingest(out, store).files_skipped == 1


@pytest.mark.parametrize(
    "table, parts",
    [
        (
            {"step": ["1"], "prompt": ["p"], "completion": ["c"], "Acc": [1.0]},
            ("missing column 'advantages'",),
        ),
        (
            {"step": ["1"], "prompt": ["p"], "completion": ["c"], "advantages": [0.0]},
            ("no reward columns",),
        ),
        (
            {
                "step": ["1", "1"],
                "prompt": ["p"],
                "completion": ["c", "d"],
                "Acc": [1, 0],
                "advantages": [0, 0],
            },
            ("column 'prompt' has 1 rows",),
        ),
        (
            {
                "step": ["x"],
                "prompt": ["p"],
                "completion": ["c"],
                "Acc": [1.0],
                "advantages": [0.0],
            },  # a repeat
            ("column 'step'",),
        ),
        (
            {"step": ["1"], "prompt": ["p"], "completion": ["c"], "Acc": ["high"], "advantages": [0.0]},
            ("column 'Acc' must hold numbers",),
        ),
        (
            {"step": ["1"], "prompt": ["p"], "completion": ["d"], "Acc": [1e999], "advantages": [0.0]},
            ("infinite",),
        ),
        (
            {"step": ["1"], "prompt": [7], "completion": ["c"], "Acc": [1.0], "advantages": [0.0]},
            ("column 'prompt' must hold text",),
        ),
        (
            {
                "step": ["1"],
                "prompt": ["p"],
                "completion": ["d"],
                "Acc": [1.0],
                "advantages": [0.0],
                "split": [5],
            },
            ("field 'split' must be a string",),
        ),
        (
            {"step": "1", "prompt": ["p"], "completion": ["d"], "Acc": [1.0], "advantages": [0.0]},
            ("must be a list",),
        ),
    ],
)
def test_bad_lines_are_bad_input_and_store_nothing(tmp_path: Path, store: RolloutStore, table, parts):
    out = tmp_path / "run"
    out.mkdir()
    f = out / "completions.jsonl"
    good = {"step": ["1"], "prompt": ["p"], "completion": ["c"], "Acc": [1.0], "advantages": [0.0]}
    f.write_text(json.dumps(good) + "\n" + json.dumps(table) + "\n")
    with pytest.raises(RecordError) as exc:
        ingest(out, store, fmt="swift")
    assert_record_error(exc, f, "line 2", *parts)
    assert_store_empty(store)


def test_args_json_weights_of_the_wrong_length_are_bad_input(tmp_path: Path, store: RolloutStore):
    out = run_dir(tmp_path, weights=[1.0, 2.0, 3.0])
    two_steps(out)
    with pytest.raises(RecordError) as exc:
        ingest(out, store)
    assert_record_error(exc, out / "completions.jsonl", "3 reward_weights for 2 reward columns")
    assert_store_empty(store)


def test_a_generic_jsonl_named_completions_is_not_swift(tmp_path: Path):
    f = tmp_path / "completions.jsonl"
    f.write_text(json.dumps({"step": 1, "prompt": "p", "completion": "c", "reward": 1.0}) + "\n")
    assert detect_format(f) == "jsonl"


@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(swift_lines())
def test_monitor_on_fuzzed_swift_logs_keeps_the_cli_contract(data: bytes) -> None:
    """A verdict, or one line of bad input with the store untouched: never a traceback (exit 3)."""
    check_format("swift", data)


def test_a_batch_line_of_megabytes_is_detected_and_read(tmp_path: Path, store: RolloutStore):
    out = tmp_path / "run"
    out.mkdir()
    n = 600  # 600 rollouts of 3 kB: a 1.8 MB line, longer than the head detection reads
    log_line(out / "completions.jsonl", 1, ["p" * 3000] * n, ["c"] * n, {"Acc": [1.0] * n}, [0.0] * n)
    assert (out / "completions.jsonl").stat().st_size > 1 << 20
    assert detect_format(out) == "swift"
    assert ingest(out, store).rows_added == n
