import json

import pyarrow as pa
import pytest

from rlaudit.records import STORE_SCHEMA, RecordError, RolloutStore, normalize


def _raw(n: int = 4, **cols) -> pa.Table:
    base = {
        "step": list(range(n)),
        "prompt": ["p"] * n,
        "completion": [f"c{i}" for i in range(n)],
        "reward": [1.0] * n,
    }
    base.update(cols)
    return pa.table(base)


def test_normalize_fills_defaults_and_keeps_extras():
    t = normalize(_raw(2, my_tag=["a", "b"]), source="f.jsonl", first_row=10, run="r1")
    assert t.schema == STORE_SCHEMA
    rows = t.to_pylist()
    assert [r["run"] for r in rows] == ["r1", "r1"]
    assert rows[0]["prompt_id"] == rows[1]["prompt_id"] and len(rows[0]["prompt_id"]) == 16
    assert rows[0]["group"] == f"0:{rows[0]['prompt_id']}"
    assert json.loads(rows[1]["extra"]) == {"my_tag": "b"}
    assert [r["row"] for r in rows] == [10, 11] and rows[0]["source"] == "f.jsonl"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_raw().drop_columns(["reward"]), "missing required field 'reward'"),
        (_raw(reward=["x"] * 4), "field 'reward' must be a number"),
        (_raw(step=[0.0, 1.5, 2.0, 3.0]), "row 12: field 'step' must be an integer"),
        (_raw(prompt=["a", None, "c", "d"]), "row 12: required field 'prompt' is null"),
        (_raw(correct=["yes"] * 4), "field 'correct' must be true/false"),
    ],
)
def test_normalize_names_the_row_and_field(table, message):
    with pytest.raises(RecordError, match=message) as e:
        normalize(table, source="f.jsonl", first_row=11, run="r")
    assert str(e.value).startswith("f.jsonl: ") and "\n" not in str(e.value)


def test_a_source_becomes_visible_all_at_once(tmp_path):
    store = RolloutStore(tmp_path / "store")
    src = tmp_path / "log.jsonl"
    src.write_text("x\n")
    seen_during = []

    def tables():
        yield normalize(_raw(), source=str(src), first_row=1, run="r")
        seen_during.append(RolloutStore(tmp_path / "store").count())  # a second reader, mid-ingest
        yield normalize(_raw(), source=str(src), first_row=5, run="r")

    assert store.append(tables(), path=src, fmt="jsonl") == 8
    assert seen_during == [0]
    assert store.count() == 8
    assert store.plan(src) is None  # same content: nothing to do


def test_a_failing_source_leaves_nothing(tmp_path):
    store = RolloutStore(tmp_path / "store")
    src = tmp_path / "log.jsonl"
    src.write_text("x\n")

    def tables():
        yield normalize(_raw(), source=str(src), first_row=1, run="r")
        raise RecordError("log.jsonl: line 5: planted")

    with pytest.raises(RecordError):
        store.append(tables(), path=src, fmt="jsonl")
    assert store.count() == 0 and store.sources() == []
    assert list((tmp_path / "store" / ".staging").iterdir()) == []


def test_live_parts_are_readable_as_they_land(tmp_path):
    store = RolloutStore(tmp_path / "store")
    for step in range(3):
        store.append_table(normalize(_raw(2), source="live", first_row=1 + 2 * step, run="r"), name="live")
        assert store.count() == 2 * (step + 1)
