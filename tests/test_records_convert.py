"""`rlaudit.records.convert` stores what the single DuckDB SELECT it replaced stored (issue 13).

The reference below is that SELECT as it was (schema.py at 68de697), run on the same validated batch;
the batches are drawn by hypothesis over the input types each ingest format produces (ints where
floats are stored, large strings, all-null columns, NaN, partial ids and groups, float steps, map and
struct rewards, extras of mixed types, several sources in one batch).
"""

from __future__ import annotations

import json
import math
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlaudit.records import FIELDS, STORE_SCHEMA, normalize, normalize_many
from rlaudit.records.schema import _rewards_map, _validate


def _reference_sql(alias: dict[str, str], *, has_extras: bool, per_row: bool) -> str:
    def col(name: str) -> str:
        return alias.get(name, "NULL")

    def nan_to_null(expr: str) -> str:
        return f"CASE WHEN isnan(CAST({expr} AS DOUBLE)) THEN NULL ELSE CAST({expr} AS DOUBLE) END"

    prompt, step = col("prompt"), col("step")
    prompt_id = f"COALESCE(CAST({col('prompt_id')} AS VARCHAR), substr(md5({prompt}), 1, 16))"
    extra = "CAST(to_json(extras) AS VARCHAR)" if has_extras else "NULL"
    source, row = "CAST($2 AS VARCHAR)", "CAST(row_number() OVER () + $3 AS BIGINT)"
    if per_row:
        source, row = "CAST(source_of_row AS VARCHAR)", "CAST(row_of_source AS BIGINT)"
    return f"""
        SELECT
            COALESCE(CAST({col("run")} AS VARCHAR), $1) AS run,
            CAST({step} AS BIGINT) AS step,
            CAST({prompt} AS VARCHAR) AS prompt,
            CAST({col("completion")} AS VARCHAR) AS completion,
            {nan_to_null(col("reward"))} AS reward,
            {prompt_id} AS prompt_id,
            COALESCE(CAST({col("group")} AS VARCHAR), CAST({step} AS VARCHAR) || ':' || {prompt_id}) AS "group",
            CAST({col("rewards")} AS MAP(VARCHAR, DOUBLE)) AS rewards,
            CAST({col("split")} AS VARCHAR) AS split,
            CAST({col("condition")} AS VARCHAR) AS condition,
            CAST({col("answer")} AS VARCHAR) AS answer,
            CAST({col("correct")} AS BOOLEAN) AS correct,
            CAST({col("n_tokens")} AS BIGINT) AS n_tokens,
            {nan_to_null(col("entropy"))} AS entropy,
            {nan_to_null(col("logprob"))} AS logprob,
            {nan_to_null(col("advantage"))} AS advantage,
            {extra} AS extra,
            {source} AS source,
            {row} AS "row"
        FROM batch
    """


def reference(
    table: pa.Table, *, source: str, first_row: int, run: str, rows: tuple[pa.Array, pa.Array] | None = None
) -> pa.Table:
    names = table.column_names
    alias = {name: f"c{i}" for i, name in enumerate(names) if name in FIELDS}
    cols = {alias[name]: table.column(i) for i, name in enumerate(names) if name in FIELDS}
    if "rewards" in alias:
        rewards = _rewards_map(table.column("rewards"))
        if rewards is None:
            del cols[alias.pop("rewards")]
        else:
            cols[alias["rewards"]] = rewards
    extras = [i for i, name in enumerate(names) if name not in FIELDS]
    if extras:
        cols["extras"] = table.select(extras).to_struct_array()
    if rows is not None:
        cols["source_of_row"], cols["row_of_source"] = rows
    con = duckdb.connect()
    try:
        con.register("batch", pa.table(cols))
        sql = _reference_sql(alias, has_extras=bool(extras), per_row=rows is not None)
        params = [run] if rows is not None else [run, source, first_row - 1]
        return con.sql(sql, params=params).to_arrow_table().cast(STORE_SCHEMA)
    finally:
        con.close()


def comparable(table: pa.Table) -> list[dict[str, Any]]:
    """Rows with NaN made comparable (a NaN reward component is kept, and is not equal to itself)."""

    def fix(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return "NaN"
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, tuple):
            return tuple(fix(x) for x in v)
        return v

    return [{k: fix(v) for k, v in r.items()} for r in table.to_pylist()]


_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=6)
_floats = st.floats(allow_infinity=False, width=64) | st.integers(-(2**40), 2**40).map(float)


@st.composite
def batches(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(1, 12))
    few_prompts = draw(st.lists(_texts, min_size=1, max_size=3))
    cols: dict[str, pa.Array] = {}
    step_kind = draw(st.sampled_from(["int64", "int32", "float"]))
    steps = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))
    if step_kind == "float":
        cols["step"] = pa.array([float(s) for s in steps], pa.float64())
    else:
        cols["step"] = pa.array(steps, getattr(pa, step_kind)())
    prompts = draw(st.lists(st.sampled_from(few_prompts) | _texts, min_size=n, max_size=n))
    cols["prompt"] = pa.array(prompts, draw(st.sampled_from([pa.string(), pa.large_string()])))
    cols["completion"] = pa.array(draw(st.lists(_texts, min_size=n, max_size=n)), pa.string())
    if draw(st.booleans()):
        cols["reward"] = pa.array(draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)), pa.int64())
    else:
        vals = draw(st.lists(st.none() | _floats | st.just(math.nan), min_size=n, max_size=n))
        cols["reward"] = pa.array(vals, pa.float64())
    for name in ("prompt_id", "group", "run", "split", "condition", "answer"):
        mode = draw(st.sampled_from(["absent", "absent", "null", "partial", "full"]))
        if mode == "null":
            cols[name] = pa.nulls(n)
        elif mode != "absent":
            vals = draw(
                st.lists((st.none() if mode == "partial" else st.nothing()) | _texts, min_size=n, max_size=n)
            )
            cols[name] = pa.array(vals, pa.string())
    if draw(st.booleans()):
        cols["correct"] = pa.array(
            draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n)), pa.bool_()
        )
    if draw(st.booleans()):
        ints = draw(st.lists(st.none() | st.integers(0, 4000), min_size=n, max_size=n))
        floaty = draw(st.booleans())
        cols["n_tokens"] = pa.array([None if v is None else float(v) for v in ints] if floaty else ints)
    for name in ("entropy", "logprob", "advantage"):
        if draw(st.booleans()):
            vals = draw(st.lists(st.none() | _floats | st.just(math.nan), min_size=n, max_size=n))
            cols[name] = pa.array(vals, pa.float64())
    rewards_kind = draw(st.sampled_from(["absent", "map", "struct", "intmap", "emptystruct"]))
    keys = draw(st.lists(st.sampled_from(["acc", "fmt", "len"]), min_size=1, max_size=3, unique=True))
    if rewards_kind == "map":
        vals = [
            None
            if draw(st.booleans()) and i % 3 == 0
            else [(k, draw(_floats | st.just(math.nan))) for k in keys]
            for i in range(n)
        ]
        cols["rewards"] = pa.array(vals, pa.map_(pa.string(), pa.float64()))
    elif rewards_kind == "intmap":
        cols["rewards"] = pa.array(
            [[(k, i) for k in keys] for i in range(n)], pa.map_(pa.string(), pa.int64())
        )
    elif rewards_kind == "struct":
        cols["rewards"] = pa.array(
            [{k: draw(st.none() | _floats) for k in keys} for _ in range(n)],
            pa.struct([(k, pa.float64()) for k in keys]),
        )
    elif rewards_kind == "emptystruct":
        cols["rewards"] = pa.array([{} for _ in range(n)], pa.struct([]))
    for name in draw(
        st.lists(st.sampled_from(["tag", "Tag", "score2", "nested", "nums"]), unique=True, max_size=3)
    ):
        kind = {"tag": "str", "Tag": "str", "score2": "float", "nested": "struct", "nums": "list"}[name]
        if kind == "str":
            cols[name] = pa.array(draw(st.lists(st.none() | _texts, min_size=n, max_size=n)), pa.string())
        elif kind == "float":
            cols[name] = pa.array(draw(st.lists(st.none() | _floats, min_size=n, max_size=n)), pa.float64())
        elif kind == "struct":
            cols[name] = pa.array([{"a": i, "b": "x"} for i in range(n)])
        else:
            cols[name] = pa.array([[i, i + 1] for i in range(n)])
    return pa.table(cols)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(table=batches(), first_row=st.integers(1, 10**6), run=_texts)
def test_normalize_stores_what_the_duckdb_select_stored(table: pa.Table, first_row: int, run: str) -> None:
    _validate(table, source="f.jsonl", first_row=first_row)
    want = reference(table, source="f.jsonl", first_row=first_row, run=run)
    got = normalize(table, source="f.jsonl", first_row=first_row, run=run)
    assert got.schema == STORE_SCHEMA
    assert comparable(got) == comparable(want)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(tables=st.lists(batches(), min_size=1, max_size=3))
def test_normalize_many_stores_what_the_duckdb_select_stored(tables: list[pa.Table]) -> None:
    parts = [(t, f"dir/completions_{i:05d}.parquet") for i, t in enumerate(tables)]
    got = pa.concat_tables(normalize_many(parts, run="r"))
    want = []
    for table, source in parts:
        n = table.num_rows
        rows = (pa.array([source] * n, pa.string()), pa.array(np.arange(1, n + 1), pa.int64()))
        want.append(reference(table, source=source, first_row=1, run="r", rows=rows))
    assert comparable(got) == comparable(pa.concat_tables(want))


def test_distinct_prompts_are_hashed_once_and_match_md5() -> None:
    import hashlib

    prompts = ["a", "b", "a", "é", "b"] * 1000
    table = pa.table(
        {"step": [1] * 5000, "prompt": prompts, "completion": ["x"] * 5000, "reward": [1.0] * 5000}
    )
    got = normalize(table, source="s", first_row=1, run="r").column("prompt_id").to_pylist()
    assert got == [hashlib.md5(p.encode()).hexdigest()[:16] for p in prompts]


def test_extra_json_is_unchanged_for_awkward_values() -> None:
    table = pa.table(
        {
            "step": [1, 2],
            "prompt": ["p", "q"],
            "completion": ["c", "d"],
            "reward": [1.0, math.nan],
            "note": ['say "hi"\n', None],
            "weights": [[0.5, math.inf], []],
        }
    )
    got = normalize(table, source="s", first_row=3, run="r")
    want = reference(table, source="s", first_row=3, run="r")
    assert comparable(got) == comparable(want)
    assert json.loads(got.column("extra")[0].as_py())["note"] == 'say "hi"\n'


@pytest.mark.parametrize("step", [pa.array([3.0, 4.0]), pa.array([3, 4], pa.uint16())])
def test_default_group_writes_the_step_as_before(step: pa.Array) -> None:
    table = pa.table({"step": step, "prompt": ["p", "p"], "completion": ["c", "d"], "reward": [1, 0]})
    got = normalize(table, source="s", first_row=1, run="r").column("group").to_pylist()
    want = reference(table, source="s", first_row=1, run="r").column("group").to_pylist()
    assert got == want


def test_a_refused_memory_limit_leaves_the_next_batch_working(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by tests/test_signals_bounded.py (when connections were cached per thread): a bad RLAUDIT_MEMORY_LIMIT closed the cached
    connection before failing, and the next batch under the good limit got a closed one."""
    from rlaudit.records.memory import MEMORY_ENV, BadMemoryLimit

    table = pa.table({"step": [1], "prompt": ["p"], "completion": ["c"], "reward": [1.0]})
    normalize(table, source="s", first_row=1, run="r")
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(BadMemoryLimit):
        normalize(table, source="s", first_row=1, run="r")
    monkeypatch.delenv(MEMORY_ENV)
    assert normalize(table, source="s", first_row=1, run="r").column("prompt_id").to_pylist() == [
        "83878c91171338902e0fe0fb97a8c47a"[:16]
    ]
