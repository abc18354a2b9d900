"""Validated raw records into the store's columns (`STORE_SCHEMA`): defaults, casts and the `extra` JSON.

Done in Arrow, column by column, so the prompt and completion texts (nearly all the bytes of a log) are
passed through, not copied: a DuckDB pass over the whole batch copied every string in and out again
and cost about as much as parsing the JSON (issue 13). DuckDB still does the two things Arrow has no
kernel for, on as little data as possible: the md5 of each *distinct* prompt that needs a default
`prompt_id`, and `to_json` of the extras (only when the input has unknown columns). The result is
what the single DuckDB `SELECT` that did all of it gave (`tests/test_records_convert.py` compares the
two on generated batches):

- `run`: the record's, else the ingest's run; `prompt_id`: the record's, else the first 16 hex digits
  of md5(prompt); `group`: the record's, else ``"<step>:<prompt_id>"`` (step as DuckDB writes it);
- numbers cast to the stored types; NaN in `reward`, `entropy`, `logprob`, `advantage` stored as
  null (pyarrow leaves NaN out of Parquet min/max statistics and DuckDB then folds isnan() to false);
- `extra`: the unknown columns as one JSON object; `source` and `row`: where each record came from.

No name or value from the input reaches SQL text: DuckDB sees columns named here, and the extras'
names travel inside a struct, as data.
"""

from __future__ import annotations

from typing import TypeAlias

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rlaudit.records.memory import limited_connection, memory_limit, out_of_memory

Column: TypeAlias = pa.Array | pa.ChunkedArray

_FLOATS_NAN_AS_NULL = ("reward", "entropy", "logprob", "advantage")


def to_store_columns(
    table: pa.Table,
    *,
    fields: dict[str, pa.DataType],
    store_schema: pa.Schema,
    run: str,
    source: str,
    first_row: int,
    rows: tuple[pa.Array, pa.Array] | None = None,
    rewards: Column | None = None,
) -> pa.Table:
    """`table` (validated; columns named like the record's `fields`, any others are extras) in
    `store_schema`. `rows`: each row's own (source, row), for the rows of several sources at once;
    else `source` and rows numbered from `first_row`. `rewards`: the `rewards` column already made a
    map (None: no rewards)."""
    n = table.num_rows
    names = set(table.column_names)

    def given(name: str) -> Column | None:
        return table.column(name) if name in names else None

    out: dict[str, Column] = {}
    for name, typ in fields.items():
        if name in ("run", "prompt_id", "group", "rewards"):
            continue
        out[name] = _cast(given(name), typ, n)
    for name in _FLOATS_NAN_AS_NULL:
        out[name] = _nan_to_null(out[name])
    out["run"] = _fill(_cast(given("run"), pa.string(), n), run)
    prompt_id = _cast(given("prompt_id"), pa.string(), n)
    if prompt_id.null_count:
        prompt_id = pc.coalesce(prompt_id, _prompt_hashes(out["prompt"]))
    out["prompt_id"] = prompt_id
    group = _cast(given("group"), pa.string(), n)
    if group.null_count:
        step = given("step")
        assert step is not None  # a required field: validated before
        group = pc.coalesce(group, pc.binary_join_element_wise(_step_text(step), prompt_id, ":"))
    out["group"] = group
    out["rewards"] = _cast(rewards, fields["rewards"], n)
    extras = [name for name in table.column_names if name not in fields]
    out["extra"] = _extras_json(table.select(extras)) if extras else pa.nulls(n, pa.string())
    if rows is not None:
        out["source"], out["row"] = rows
    else:
        out["source"] = _repeat(source, n)
        out["row"] = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    return pa.Table.from_arrays([out[f.name] for f in store_schema], schema=store_schema)


def _cast(col: Column | None, typ: pa.DataType, n: int) -> Column:
    """`col` as `typ` (a missing column: all null). Unchecked (`safe=False`): the values were validated,
    and a large integer to float64 rounds as DuckDB's cast did instead of failing."""
    if col is None:
        return pa.nulls(n, typ)
    if col.type == typ:
        return col
    return pc.cast(col, typ, safe=False)


def _nan_to_null(col: Column) -> Column:
    nan = pc.is_nan(col)
    if not pc.any(nan).as_py():
        return col
    return pc.if_else(nan, pa.scalar(None, col.type), col)


def _fill(col: Column, value: str) -> Column:
    return pc.fill_null(col, pa.scalar(value, pa.string())) if col.null_count else col


def _repeat(value: str, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32)))


def _step_text(step: Column) -> Column:
    """The step as text for a default group id, as DuckDB's ``CAST(step AS VARCHAR)`` wrote it: an
    integer as its digits (Arrow's cast is the same), a float step (3.0, validated integral) as
    DuckDB formats a DOUBLE ("3.0"), so stored group ids do not change with the conversion."""
    if pa.types.is_integer(step.type):
        return pc.cast(step, pa.string())
    return _duckdb_column("SELECT CAST(v AS VARCHAR) FROM t", step)


def _prompt_hashes(prompt: Column) -> Column:
    """First 16 hex digits of md5(prompt) per row, hashed once per distinct prompt."""
    if isinstance(prompt, pa.ChunkedArray):
        prompt = prompt.combine_chunks()  # one dictionary, one DuckDB call (a folder's files are chunks)
    encoded = pc.dictionary_encode(prompt)
    digests = _duckdb_column("SELECT substr(md5(v), 1, 16) FROM t", encoded.dictionary)
    return digests.take(encoded.indices)


def _extras_json(extras: pa.Table) -> Column:
    """The unknown columns of each row as one JSON object (DuckDB's `to_json`, as stored so far)."""
    return _duckdb_column("SELECT CAST(to_json(v) AS VARCHAR) FROM t", extras.to_struct_array())


def _duckdb_column(sql: str, values: Column) -> pa.Array:
    """The one column `sql` (a fixed text reading column `v` of table `t`) makes of `values`, in order."""
    limit = memory_limit()
    # A fresh connection per call (~20 ms), closed here: a connection cached per thread and left for the
    # interpreter's teardown aborted GRPO runs at exit ("terminate called ..."), most torchrun runs.
    con = limited_connection(limit)
    con.execute("SET preserve_insertion_order = true")  # the column is zipped back onto the rows
    try:
        con.register("t", pa.table({"v": values}))
        try:
            result = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("t")
    except duckdb.OutOfMemoryException as e:
        raise out_of_memory(e, limit, "storing rows") from None
    finally:
        con.close()
    return result.column(0).combine_chunks()
