import json

import pyarrow as pa
import pytest

from rlaudit.records import STORE_SCHEMA, RecordError, RolloutStore, jsonable_row, normalize


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
        (_raw(step=[0, 1, -2, 3]), r"row 13: field 'step' is negative \(-2\)"),
        (_raw(n_tokens=[5, None, 7, -1]), r"row 14: field 'n_tokens' is negative \(-1\)"),
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


def _stored(tmp_path, table: pa.Table) -> list[dict]:
    """`table` normalized, appended to a fresh store and read back through its DuckDB view."""
    store = RolloutStore(tmp_path / "store")
    store.append_table(normalize(table, source="f.jsonl", first_row=1, run="r"), name="t")
    con = store.connect()
    try:
        rows = con.sql('SELECT * FROM rollouts ORDER BY "row"').to_arrow_table().to_pylist()
    finally:
        con.close()
    return [jsonable_row(r) for r in rows]


def test_extras_named_like_record_fields_keep_their_own_values(tmp_path):
    # DuckDB matches column names case-insensitively: `STEP` must not be read as `step`.
    rows = _stored(tmp_path, _raw(2, STEP=[7, 8], Prompt=["x", "y"], Reward=["hi", None]))
    assert [json.loads(r["extra"]) for r in rows] == [
        {"STEP": 7, "Prompt": "x", "Reward": "hi"},
        {"STEP": 8, "Prompt": "y", "Reward": None},
    ]
    assert [(r["step"], r["prompt"], r["reward"]) for r in rows] == [(0, "p", 1.0), (1, "p", 1.0)]


def test_extras_differing_only_in_case_are_all_kept(tmp_path):
    rows = _stored(tmp_path, _raw(1, Foo=[1], foo=[2], FOO=["3"]))
    assert rows[0]["extra"] == '{"Foo":1,"foo":2,"FOO":"3"}'


def test_extra_json_text_is_duckdbs_to_json(tmp_path):
    # The exact text stores already hold (DuckDB's to_json): compact, keys in input order, UTF-8 as is.
    nested = pa.array(
        [{"u": [1, 2], "v": None}], pa.struct([("u", pa.list_(pa.int64())), ("v", pa.string())])
    )
    table = _raw(1, count=[3], x=[0.1], s=['é "q" \\'], nested=nested, flag=[False], none=pa.nulls(1))
    rows = _stored(tmp_path, table)
    assert rows[0]["extra"] == (
        '{"count":3,"x":0.1,"s":"é \\"q\\" \\\\","nested":{"u":[1,2],"v":null},"flag":false,"none":null}'
    )


HOSTILE_KEYS = ['say "hi"', "it's", "a;b", "x -- y", ") AS x; DROP TABLE batch; --", "ünï 🚀", "", "a\0b"]


def test_struct_rewards_become_maps_in_key_order_without_missing_keys(tmp_path):
    # pyarrow's JSON reader makes `rewards` a struct of every key any row had; absent keys are null.
    typ = pa.struct([(k, pa.float64()) for k in HOSTILE_KEYS] + [("n", pa.int64())])
    rewards = pa.array(
        [
            {**{k: float(i) for i, k in enumerate(HOSTILE_KEYS)}, "n": 5},
            {HOSTILE_KEYS[1]: 2.5},
            None,
            {},
        ],
        typ,
    )
    rows = _stored(tmp_path, _raw(4, rewards=rewards))
    assert [r["rewards"] for r in rows] == [
        {**{k: float(i) for i, k in enumerate(HOSTILE_KEYS)}, "n": 5.0},
        {HOSTILE_KEYS[1]: 2.5},
        None,
        {},
    ]
    assert list(rows[0]["rewards"]) == [*HOSTILE_KEYS, "n"]


def test_map_rewards_and_struct_rewards_store_the_same(tmp_path):
    as_map = pa.array([[("b", 1.0), ("a", 2.0)], None], pa.map_(pa.string(), pa.float64()))
    as_struct = pa.array([{"b": 1.0, "a": 2.0}, None], pa.struct([("b", pa.float64()), ("a", pa.float64())]))
    t_map = normalize(_raw(2, rewards=as_map), source="f", first_row=1, run="r")
    t_struct = normalize(_raw(2, rewards=as_struct), source="f", first_row=1, run="r")
    assert t_map.equals(t_struct)
    assert _stored(tmp_path, _raw(2, rewards=as_struct))[0]["rewards"] == {"b": 1.0, "a": 2.0}


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        ({"a\0b": ["x"] * 4}, "field name 'a\\\\x00b' contains a NUL character"),
        ({"": ["x"] * 4}, "empty field name"),
    ],
)
def test_field_names_the_extra_json_cannot_keep_are_rejected(extras, message):
    with pytest.raises(RecordError, match=message) as e:
        normalize(_raw(**extras), source="f.jsonl", first_row=3, run="r")
    assert str(e.value).startswith("f.jsonl: rows from 3: ") and "\n" not in str(e.value)


def test_an_empty_field_name_beside_others_is_kept(tmp_path):
    rows = _stored(tmp_path, _raw(1, **{"": ["e"], "k": ["v"]}))
    assert json.loads(rows[0]["extra"]) == {"": "e", "k": "v"}


@pytest.mark.parametrize("name", HOSTILE_KEYS)
def test_run_and_source_are_stored_exactly(name):
    t = normalize(_raw(2, run=[None, "own"]), source=name, first_row=5, run=name)
    assert t.column("run").to_pylist() == [name, "own"]
    assert t.column("source").to_pylist() == [name, name]
    assert t.column("row").to_pylist() == [5, 6]
