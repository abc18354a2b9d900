from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlaudit.ingest import detect_format, ingest
from rlaudit.records import RecordError, RolloutStore

from ._helpers import assert_record_error, assert_store_empty, stored_rows, unscored


def dump(folder: Path, step: int, entries: list[dict[str, Any]]) -> Path:
    """A rollout dump as verl's `_dump_generations` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{step}.jsonl"
    lines = [json.dumps({**e, "step": e.get("step", step)}, ensure_ascii=False) for e in entries]
    path.write_text("\n".join(lines) + "\n")
    return path


def entry(
    inp: str = "Q: 2+2?", out: str = "4", score: Any = 1.0, gts: Any = "4", **extra: Any
) -> dict[str, Any]:
    return {"input": inp, "output": out, "gts": gts, "score": score, **extra}


def test_values(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "rollouts"
    f = dump(
        d,
        5,
        [
            entry(acc=True, pred="4", request_id="r1", split="target"),
            entry(out="5", score=0.0, acc=False, pred="5", request_id="r2", split="target"),
            entry(inp="Q: 3+3?", out="6", gts=6, acc=True, pred="6", request_id="r3", split="control"),
            entry(inp="Q: 3+3?", out="?", score=None, gts=["6", "six"], acc=None, pred=None, request_id="r4"),
        ],
    )
    result = ingest(d, store)
    assert (result.format, result.rows_added) == ("verl", 4)
    a, b, c, e = stored_rows(store)
    assert {r["run"] for r in (a, b, c, e)} == {"rollouts"}
    assert (a["step"], a["prompt"], a["completion"], a["reward"], a["answer"]) == (
        5,
        "Q: 2+2?",
        "4",
        1.0,
        "4",
    )
    assert a["group"] == b["group"] != c["group"] == e["group"]
    assert (a["correct"], b["correct"], c["correct"], e["correct"]) == (True, False, True, None)
    assert (c["answer"], e["answer"]) == ("6", '["6", "six"]')  # non-strings as JSON
    assert unscored(e["reward"])  # null score: unscored
    assert (a["split"], c["split"], e["split"]) == ("target", "control", None)
    assert json.loads(a["extra"]) == {"pred": "4", "request_id": "r1"}
    assert (a["source"], a["row"], e["row"]) == (str(f), 1, 4)


def test_acc_as_numbers_and_fractions(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "rollouts"
    dump(d, 1, [entry(acc=1.0), entry(out="5", score=0.0, acc=0)])
    dump(d, 2, [entry(acc=0.5), entry(out="5", score=0.0, acc=0.0)])
    result = ingest(d, store)
    rows = stored_rows(store)
    assert [r["correct"] for r in rows] == [True, False, None, None]
    assert json.loads(rows[2]["extra"]) == {"acc": 0.5}  # not 0/1: kept as an extra, with a note
    assert any("2.jsonl" in n and "acc" in n for n in result.notes)


def test_clashing_and_nan_keys(tmp_path: Path, store: RolloutStore) -> None:
    f = tmp_path / "r" / "1.jsonl"
    f.parent.mkdir()
    line = json.dumps({**entry(prompt="raw prompt", reward=3, correct=False, acc=True), "step": 1})
    f.write_text(line + "\n" + line.replace('"score": 1.0', '"score": NaN') + "\n")
    ingest(f, store, fmt="verl")
    a, b = stored_rows(store)
    assert a["prompt"] == "Q: 2+2?" and a["reward"] == 1.0 and unscored(b["reward"])
    assert a["correct"] is False  # an explicit `correct` wins over `acc`
    assert json.loads(a["extra"]) == {"verl_prompt": "raw prompt", "verl_reward": 3, "acc": True}


def test_single_file_run_name_and_detection(tmp_path: Path, store: RolloutStore) -> None:
    f = dump(tmp_path / "exp1", 3, [entry(), entry(out="5", score=0.0)])
    assert detect_format(f) == "verl"
    assert detect_format(f.parent) == "verl"
    assert ingest(f, store).rows_added == 2
    assert {r["run"] for r in stored_rows(store)} == {"exp1"}


def test_reingest_skips_and_orders_by_step(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "rollouts"
    for step in (10, 2, 1):
        dump(d, step, [entry(out=str(step))])
    (d / "notes.jsonl").write_text("{}\n")
    first = ingest(d, store)
    assert first.rows_added == 3
    assert any("notes.jsonl" in n for n in first.notes)
    again = ingest(d, store)
    assert (again.rows_added, again.files_skipped) == (0, 3)
    assert sorted(r["step"] for r in stored_rows(store)) == [1, 2, 10]


def test_grown_dump_is_resumed(tmp_path: Path, store: RolloutStore) -> None:
    f = dump(tmp_path / "r", 1, [entry()])
    ingest(f, store)
    with open(f, "a") as fh:
        fh.write(json.dumps({**entry(out="5"), "step": 1}) + "\n")
    assert ingest(f, store).rows_added == 1
    assert [r["completion"] for r in stored_rows(store)] == ["4", "5"]


def test_all_or_nothing_across_files(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "rollouts"
    dump(d, 1, [entry()])
    bad = dump(d, 2, [entry(), entry(score="high")])
    with pytest.raises(RecordError) as exc:
        ingest(d, store)
    assert_record_error(exc, bad, "line 2", "'score'")
    assert_store_empty(store)


GOOD = json.dumps({**entry(), "step": 1})


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        pytest.param(
            GOOD + "\n" + json.dumps({"input": "q", "output": "a", "step": 1}) + "\n",
            ["line 2", "'score'"],
            id="missing-score",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps({**entry(), "step": 1.5}) + "\n", ["line 2", "'step'"], id="float-step"
        ),
        pytest.param(
            GOOD + "\n" + json.dumps({**entry(), "step": "1"}) + "\n", ["line 2", "'step'"], id="string-step"
        ),
        pytest.param(
            GOOD + "\n" + json.dumps({**entry(score="1"), "step": 1}) + "\n",
            ["line 2", "'score'"],
            id="string-score",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps({**entry(score=True), "step": 1}) + "\n",
            ["line 2", "'score'"],
            id="bool-score",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps({**entry(out=None), "step": 1}) + "\n",
            ["line 2", "'output'"],
            id="null-output",
        ),
        pytest.param(
            GOOD + "\n" + GOOD.replace("1.0", "Infinity") + "\n",
            ["line 2", "'score'", "infinite"],
            id="inf-score",
        ),
        pytest.param(
            GOOD + "\n" + json.dumps({**entry(split=3), "step": 1}) + "\n",
            ["line 2", "'split'"],
            id="int-split",
        ),
        pytest.param(GOOD + "\n" + GOOD[:30], ["line 2", "truncated"], id="truncated-last-line"),
        pytest.param(GOOD + '\n"just a string"\n', ["line 2", "JSON object"], id="non-object"),
        pytest.param("", ["empty"], id="empty-file"),
    ],
)
def test_malformed(tmp_path: Path, store: RolloutStore, content: str, parts: list[str]) -> None:
    f = tmp_path / "rollouts" / "1.jsonl"
    f.parent.mkdir()
    f.write_text(content)
    with pytest.raises(RecordError) as exc:
        ingest(f.parent, store, fmt="verl")
    assert_record_error(exc, f, *parts)
    assert_store_empty(store)


def test_folder_without_dumps(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "rollouts"
    d.mkdir()
    (d / "notes.jsonl").write_text("{}\n")
    with pytest.raises(RecordError) as exc:
        ingest(d, store, fmt="verl")
    assert_record_error(exc, d, "{step}.jsonl")
    assert_store_empty(store)
