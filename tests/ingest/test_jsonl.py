from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rlaudit.ingest import detect_format, ingest
from rlaudit.ingest.jsonl import read_jsonl
from rlaudit.records import RecordError, RolloutStore

from ._helpers import assert_record_error, assert_store_empty, stored_rows, unscored, write_lines


def rollout(step: int = 1, prompt: str = "2+2?", completion: str = "4", reward: float | None = 1.0, **kw):
    return {"step": step, "prompt": prompt, "completion": completion, "reward": reward, **kw}


def test_values_defaults_and_extras(tmp_path: Path, store: RolloutStore) -> None:
    f = write_lines(
        tmp_path / "run-a.jsonl",
        [
            rollout(
                rewards={"acc": 1.0, "fmt": 0.5},
                split="target",
                condition="train_cue",
                correct=True,
                answer="4",
                n_tokens=3,
                entropy=0.7,
                seed=7,
                meta={"k": [1, 2]},
            ),
            rollout(completion="5", reward=0.0, correct=False),
            rollout(step=2, prompt="3+3?", completion="6", group="g-custom", prompt_id="p3", run="other"),
        ],
    )
    result = ingest(f, store)
    assert (result.format, result.rows_added, result.files_skipped) == ("jsonl", 3, 0)
    a, b, c = stored_rows(store)
    pid = hashlib.md5(b"2+2?").hexdigest()[:16]
    assert a["run"] == "run-a"  # defaults to the file stem
    assert (a["step"], a["prompt"], a["completion"], a["reward"]) == (1, "2+2?", "4", 1.0)
    assert a["prompt_id"] == pid and a["group"] == f"1:{pid}"
    assert b["group"] == a["group"]  # same step and prompt: one GRPO group
    assert a["rewards"] == {"acc": 1.0, "fmt": 0.5}
    assert (a["split"], a["condition"], a["correct"], a["answer"]) == ("target", "train_cue", True, "4")
    assert (a["n_tokens"], a["entropy"]) == (3, 0.7)
    assert json.loads(a["extra"]) == {"seed": 7, "meta": {"k": [1, 2]}}
    assert (a["source"], a["row"], b["row"], c["row"]) == (str(f), 1, 2, 3)
    assert b["correct"] is False and b["rewards"] is None
    assert (c["group"], c["prompt_id"], c["run"]) == ("g-custom", "p3", "other")


def test_run_argument_and_directory(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "myrun"
    d.mkdir()
    write_lines(d / "a.jsonl", [rollout()])
    write_lines(d / "b.jsonl", [rollout(step=2)])
    assert detect_format(d) == "jsonl"
    assert ingest(d, store).rows_added == 2
    assert {r["run"] for r in stored_rows(store)} == {"myrun"}
    f = write_lines(tmp_path / "x.jsonl", [rollout(step=3)])
    ingest(f, store, run="named")
    assert sum(r["run"] == "named" for r in stored_rows(store)) == 1


def test_null_and_nan_rewards_are_stored_as_unscored(tmp_path: Path, store: RolloutStore) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text(
        json.dumps(rollout(reward=None))
        + "\n"
        + '{"step": 1, "prompt": "p", "completion": "c", "reward": NaN}\n'
    )
    assert ingest(f, store).rows_added == 2
    assert all(unscored(r["reward"]) for r in stored_rows(store))


def test_slow_path_keeps_mixed_type_extras(tmp_path: Path, store: RolloutStore) -> None:
    # pyarrow cannot give `tag` one type: the line-by-line pass ingests it, as JSON text.
    f = write_lines(tmp_path / "m.jsonl", [rollout(tag=1), rollout(tag="x", big=2**70), rollout(tag=None)])
    assert ingest(f, store).rows_added == 3
    assert [json.loads(r["extra"]) for r in stored_rows(store)] == [
        {"tag": "1", "big": None},
        {"tag": '"x"', "big": str(2**70)},
        {"tag": None, "big": None},
    ]


def test_reingest_same_file_adds_nothing(tmp_path: Path, store: RolloutStore) -> None:
    f = write_lines(tmp_path / "r.jsonl", [rollout(), rollout(step=2)])
    assert ingest(f, store).rows_added == 2
    again = ingest(f, store)
    assert (again.rows_added, again.files_skipped) == (0, 1)
    # the same content under another name is the same source
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(f.read_bytes())
    assert ingest(copy, store).files_skipped == 1
    assert store.count() == 2


def test_grown_file_is_resumed(tmp_path: Path, store: RolloutStore) -> None:
    f = write_lines(tmp_path / "live.jsonl", [rollout(step=s) for s in (1, 2, 3)])
    assert ingest(f, store).rows_added == 3
    with open(f, "a") as fh:
        fh.write(json.dumps(rollout(step=4)) + "\n" + json.dumps(rollout(step=5)) + "\n")
    assert ingest(f, store).rows_added == 2
    rows = stored_rows(store)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert sorted(r["row"] for r in rows) == [1, 2, 3, 4, 5]
    assert ingest(f, store).rows_added == 0


def test_bad_line_in_grown_part_keeps_what_was_stored(tmp_path: Path, store: RolloutStore) -> None:
    f = write_lines(tmp_path / "live.jsonl", [rollout(), rollout()])
    ingest(f, store)
    with open(f, "a") as fh:
        fh.write(json.dumps(rollout(reward="high")) + "\n")
    with pytest.raises(RecordError) as exc:
        ingest(f, store)
    assert_record_error(exc, f, "line 3", "'reward'")
    assert store.count() == 2 and len(store.sources()) == 1


def test_read_stops_at_end(tmp_path: Path) -> None:
    # A live log that grows while it is read: only the bytes the caller recorded are read.
    f = write_lines(tmp_path / "live.jsonl", [rollout(step=1)])
    size = f.stat().st_size
    with open(f, "a") as fh:
        fh.write(json.dumps(rollout(step=2)) + "\n" + '{"step": 3, "pro')
    tables = list(read_jsonl(f, end=size))
    assert sum(t.num_rows for t in tables) == 1


GOOD = json.dumps(rollout())


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        pytest.param(GOOD + "\n" + GOOD[:25], ["line 2", "truncated"], id="truncated-last-line"),
        pytest.param(GOOD + "\n{not json}\n" + GOOD + "\n", ["line 2", "invalid JSON"], id="invalid-json"),
        pytest.param(
            GOOD + "\n" + json.dumps({"step": 1, "prompt": "p", "reward": 1.0}) + "\n",
            ["line 2", "missing required field 'completion'"],
            id="missing-field-one-line",
        ),
        pytest.param(
            json.dumps({"step": 1, "prompt": "p", "completion": "c"}) + "\n",
            ["line 1", "missing required field 'reward'"],
            id="missing-field-everywhere",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(reward="0.5")) + "\n", ["line 2", "'reward'"], id="string-reward"
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(step=1.5)) + "\n", ["line 2", "'step'"], id="float-step"
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(correct="yes")) + "\n",
            ["line 2", "'correct'"],
            id="string-correct",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(correct=1)) + "\n", ["line 2", "'correct'"], id="int-correct"
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(prompt=None)) + "\n",
            ["line 2", "'prompt'", "null"],
            id="null-prompt",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(prompt=5)) + "\n", ["line 2", "'prompt'"], id="int-prompt"
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(n_tokens=2.5)) + "\n",
            ["line 2", "'n_tokens'"],
            id="float-n-tokens",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(rewards={"a": "x"})) + "\n",
            ["line 2", "'rewards'"],
            id="bad-rewards",
        ),
        pytest.param(
            GOOD + "\n" + GOOD.replace("1.0", "Infinity") + "\n",
            ["line 2", "'reward'", "infinite"],
            id="inf-reward",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps(rollout(step=2**70)) + "\n", ["line 2", "'step'"], id="huge-step"
        ),
        pytest.param(GOOD + "\n[1, 2]\n", ["line 2", "JSON object"], id="non-object-line"),
        pytest.param("", ["empty"], id="empty-file"),
        pytest.param("\n\n", ["no records"], id="blank-file"),
    ],
)
def test_malformed_input_raises_and_stores_nothing(
    tmp_path: Path, store: RolloutStore, content: str, parts: list[str]
) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    with pytest.raises(RecordError) as exc:
        ingest(f, store)
    assert_record_error(exc, f, *parts)
    assert_store_empty(store)


def test_invalid_utf8_names_the_line(tmp_path: Path, store: RolloutStore) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_bytes(GOOD.encode() + b"\n" + GOOD.replace("2+2?", "\xff").encode("latin-1") + b"\n")
    with pytest.raises(RecordError) as exc:
        ingest(f, store)
    assert_record_error(exc, f, "line 2", "UTF-8")
    assert_store_empty(store)


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(write_lines(tmp_path / "r.jsonl", [rollout()])) == "jsonl"
    assert detect_format(write_lines(tmp_path / "7.jsonl", [rollout()])) == "jsonl"  # digits, generic fields
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RecordError, match="pass --format"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(RecordError, match="no such file"):
        detect_format(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecordError, match="no rollout logs found"):
        detect_format(empty)
