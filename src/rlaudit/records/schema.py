"""The rollout record: its fields (`FIELDS`), the stored schema (`STORE_SCHEMA`, `METRICS_SCHEMA`) and
`normalize`, which validates raw records into it.

Every ingest format turns its input into Arrow batches whose columns use the names of the generic
record; `normalize` validates them, fills the defaults (run, prompt_id, group) and packs unknown
columns into the JSON `extra` column, so nothing the user logged is dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rlaudit.records.convert import to_store_columns


class RecordError(ValueError):
    """Bad input: the message is one line naming the file, the line/row and the field."""


# name -> (arrow type in the store, required, kind used for validation)
FIELDS: dict[str, tuple[pa.DataType, bool, str]] = {
    "run": (pa.string(), False, "str"),
    "step": (pa.int64(), True, "int"),
    "prompt": (pa.string(), True, "str"),
    "completion": (pa.string(), True, "str"),
    "reward": (pa.float64(), True, "float"),
    "prompt_id": (pa.string(), False, "str"),
    "group": (pa.string(), False, "str"),
    "rewards": (pa.map_(pa.string(), pa.float64()), False, "rewards"),
    "split": (pa.string(), False, "str"),
    "condition": (pa.string(), False, "str"),
    "answer": (pa.string(), False, "str"),
    "correct": (pa.bool_(), False, "bool"),
    "n_tokens": (pa.int64(), False, "int"),
    "entropy": (pa.float64(), False, "float"),
    "logprob": (pa.float64(), False, "float"),
    "advantage": (pa.float64(), False, "float"),
}
# Columns the store adds: unknown input columns as a JSON object, and where each row came from.
STORE_SCHEMA = pa.schema(
    [pa.field(name, typ) for name, (typ, _, _) in FIELDS.items()]
    + [pa.field("extra", pa.string()), pa.field("source", pa.string()), pa.field("row", pa.int64())]
)
# Per-step metrics for runs logged without rollouts (TRL trainer_state.json): a weaker, metrics-only view.
# Names follow the step signals (`rlaudit.signals.STEP_COLUMNS`); `components` holds per-reward-function means.
METRICS_SCHEMA = pa.schema(
    [
        pa.field("run", pa.string()),
        pa.field("step", pa.int64()),
        pa.field("reward_mean", pa.float64()),
        pa.field("reward_std", pa.float64()),
        pa.field("frac_zero_std", pa.float64()),
        pa.field("entropy", pa.float64()),
        pa.field("length_mean", pa.float64()),
        pa.field("components", pa.map_(pa.string(), pa.float64())),
        pa.field("source", pa.string()),
    ]
)
_INT64_BOUND = float(2**63)
"""A float at or past this (or infinite, or NaN-free and huge) is no int64."""
REQUIRED = tuple(name for name, (_, req, _) in FIELDS.items() if req)
NON_NEGATIVE = ("step", "n_tokens")
"""Counts: a negative one is a logging bug, and a negative step would sort before the run began."""


def _kind_ok(typ: pa.DataType, kind: str) -> bool:
    if pa.types.is_null(typ):
        return True  # an all-null column: checked for required-ness below
    if kind == "str":
        return pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if kind == "int":
        return pa.types.is_integer(typ) or pa.types.is_floating(typ)  # 3.0 is accepted, 3.5 is not
    if kind == "float":
        return pa.types.is_integer(typ) or pa.types.is_floating(typ)
    if kind == "bool":
        return pa.types.is_boolean(typ)
    if kind == "rewards":
        return (pa.types.is_struct(typ) and all(_kind_ok(f.type, "float") for f in typ)) or (
            pa.types.is_map(typ) and _kind_ok(typ.item_type, "float")
        )
    raise AssertionError(kind)


def _type_name(kind: str) -> str:
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true/false",
        "rewards": "an object of name -> number",
    }[kind]


def normalize(batch: pa.Table | pa.RecordBatch, *, source: str, first_row: int, run: str) -> pa.Table:
    """Validate a batch of raw records and return it in `STORE_SCHEMA`.

    `first_row` is the 1-based line/row number of the batch's first record in `source`, used in
    error messages and stored in the `row` column (with `source`) so every record can be traced.
    Raises `RecordError` on the first problem.
    """
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    if table.num_rows == 0:
        return STORE_SCHEMA.empty_table()
    _validate(table, source=source, first_row=first_row)
    return _to_store_schema(table, source=source, first_row=first_row, run=run)


def normalize_many(parts: Sequence[tuple[pa.Table, str]], *, run: str) -> list[pa.Table]:
    """`normalize` for many sources at once (a folder of TRL per-step files), rows numbered from 1 in
    each: consecutive parts with the same columns are validated and converted as one table (the
    per-source work, not the rows, was most of the cost of a small file); errors name the source and
    row. Returns the rows in the order of `parts`, in as few tables as the schemas allow.
    """
    kept = [(table, source) for table, source in parts if table.num_rows]
    out = []
    for _, group in itertools.groupby(kept, key=lambda part: part[0].schema):
        tables, sources = zip(*group, strict=True)
        joined = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        out.append(normalize_rows(joined, rows_of(sources, [t.num_rows for t in tables]), run=run))
    return out


def rows_of(sources: Sequence[str], lengths: Sequence[int]) -> tuple[pa.Array, pa.Array]:
    """Each row's (source, row number from 1) for consecutive sources of `lengths` rows."""
    ends = np.cumsum(lengths, dtype=np.int64)
    starts = np.repeat(ends - np.asarray(lengths, dtype=np.int64), lengths)
    which = np.repeat(np.arange(len(sources), dtype=np.int32), lengths)
    return (
        pa.array(sources, pa.string()).take(pa.array(which)),  # in Arrow: no Python string per row
        pa.array(np.arange(int(ends[-1]) if len(ends) else 0) - starts + 1, pa.int64()),
    )


def normalize_rows(table: pa.Table, rows: tuple[pa.Array, pa.Array], *, run: str) -> pa.Table:
    """`normalize` for a table whose rows come from several sources: `rows` gives each row's (source,
    row number), stored with it and used to name a bad row."""
    if table.num_rows == 0:
        return STORE_SCHEMA.empty_table()
    first = rows[0][0].as_py()
    _validate(table, source=first, first_row=1, per_row=rows)
    return _to_store_schema(table, source=first, first_row=1, run=run, rows=rows)


@dataclass(frozen=True)
class Where:
    """Where a batch's rows came from, to name them in errors: `source` from line/row `first_row`, or
    with `per_row`, each row's own (source, row) (the rows of many files in one batch)."""

    source: str
    first_row: int = 1
    per_row: tuple[pa.Array, pa.Array] | None = None

    def row(self, i: int) -> str:
        """``"<source>: row <n>"`` for the batch's row `i` (0-based)."""
        if self.per_row is None:
            return f"{self.source}: row {self.first_row + i}"
        return f"{self.per_row[0][i].as_py()}: row {self.per_row[1][i].as_py()}"

    @property
    def start(self) -> str:
        """``"<source>: rows from <n>"``: a problem of a whole column (its first source, when many)."""
        return f"{self.source}: rows from {self.first_row}"


def _validate(
    table: pa.Table, *, source: str, first_row: int, per_row: tuple[pa.Array, pa.Array] | None = None
) -> None:
    where = Where(source, first_row, per_row)
    names = set(table.column_names)
    for name in REQUIRED:
        if name not in names:
            raise RecordError(f"{where.row(0)}: missing required field '{name}'")
    for name, (_, required, kind) in FIELDS.items():
        if name in names:
            _check_column(table.column(name), name, required, kind, where=where)
    _check_extra_names([n for n in table.column_names if n not in FIELDS], where=where)


def _check_column(col: pa.ChunkedArray, name: str, required: bool, kind: str, *, where: Where) -> None:
    """A `RecordError` naming the first row of `col` that does not fit field `name`."""
    if not _kind_ok(col.type, kind):
        raise RecordError(f"{where.start}: field '{name}' must be {_type_name(kind)}, got {col.type}")
    if required and name != "reward" and col.null_count:  # a null reward is allowed: unscored
        bad = _first_index(pc.is_null(col))
        raise RecordError(f"{where.row(bad)}: required field '{name}' is null")
    if kind == "int" and (pa.types.is_floating(col.type) or pa.types.is_uint64(col.type)):
        # DuckDB's cast to BIGINT would fail on these with an error that names no row.
        big = pc.greater_equal(pc.abs(pc.cast(col, pa.float64())), _INT64_BOUND)
        if pc.any(big).as_py():
            bad = _first_index(pc.fill_null(big, False))
            raise RecordError(f"{where.row(bad)}: field '{name}' is out of the 64-bit integer range")
    if kind == "int" and pa.types.is_floating(col.type):
        frac = pc.not_equal(col, pc.floor(col))
        if pc.any(frac).as_py():
            bad = _first_index(pc.fill_null(frac, False))
            raise RecordError(f"{where.row(bad)}: field '{name}' must be an integer")
    if name in NON_NEGATIVE and not pa.types.is_null(col.type):
        negative = pc.less(col, 0)
        if pc.any(negative).as_py():
            bad = _first_index(pc.fill_null(negative, False))
            raise RecordError(f"{where.row(bad)}: field '{name}' is negative ({col[bad]})")
    if kind == "rewards":
        _check_components(col, where=where)
    if kind == "float" and pa.types.is_floating(col.type):
        inf = pc.is_inf(col)
        if pc.any(inf).as_py():
            bad = _first_index(pc.fill_null(inf, False))
            raise RecordError(f"{where.row(bad)}: field '{name}' is infinite")


def _check_components(col: pa.ChunkedArray, *, where: Where) -> None:
    """A `RecordError` for an infinite reward component (an infinite total is refused too: either
    would turn every mean and variance over the run into inf or NaN)."""
    if pa.types.is_struct(col.type):
        for i, f in enumerate(col.type):
            inf = _inf_mask(pc.struct_field(col, [i]))
            if inf is not None:
                raise RecordError(f"{where.row(_first_index(inf))}: reward component {f.name!r} is infinite")
        return
    # A map: its values are flattened across rows, so the error names the key, not the row.
    keys, items = [], []
    for c in col.chunks:
        if len(c) == 0:
            continue
        lo, hi = c.offsets[0].as_py(), c.offsets[-1].as_py()  # a sliced map's own entries
        keys.append(c.keys.slice(lo, hi - lo))
        items.append(c.items.slice(lo, hi - lo))
    if not items:
        return
    inf = _inf_mask(pa.chunked_array(items, col.type.item_type))
    if inf is not None:
        key = pa.chunked_array(keys, col.type.key_type)[_first_index(inf)].as_py()
        raise RecordError(f"{where.start}: reward component {key!r} is infinite")


def _inf_mask(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Where `values` are infinite, or None when none are (or they are not floats)."""
    if not pa.types.is_floating(values.type):
        return None
    inf = pc.fill_null(pc.is_inf(values), False)
    return inf if pc.any(inf).as_py() else None


def _check_extra_names(extras: list[str], *, where: Where) -> None:
    """A `RecordError` for an unknown field whose name the `extra` JSON could not keep exactly.

    Arrow hands column names to DuckDB as C strings, so a name with a NUL character would arrive cut
    short; and DuckDB takes a struct whose only field is named "" for an unnamed one and writes it as
    a JSON list. Reward keys have neither limit: they travel as map data.
    """
    for name in extras:
        if "\0" in name:
            raise RecordError(f"{where.start}: field name {name!r} contains a NUL character")
    if extras == [""]:
        raise RecordError(f'{where.start}: an empty field name ("") needs a named field beside it')


def _first_index(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _to_store_schema(
    table: pa.Table,
    *,
    source: str,
    first_row: int,
    run: str,
    rows: tuple[pa.Array, pa.Array] | None = None,
) -> pa.Table:
    """Defaults, casts and extras (`rlaudit.records.convert`). `rows`: each row's own (source, row)
    instead of `source` and rows from `first_row`, for the rows of several sources at once."""
    rewards = _rewards_map(table.column("rewards")) if "rewards" in table.column_names else None
    return to_store_columns(
        table,
        fields={name: typ for name, (typ, _, _) in FIELDS.items()},
        store_schema=STORE_SCHEMA,
        run=run,
        source=source,
        first_row=first_row,
        rows=rows,
        rewards=rewards,
    )


def _rewards_map(rewards: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The input's `rewards` column as a name -> number map (None: a struct with no keys at all).

    A map (line-by-line JSONL, TRL) is kept as it is. A struct (pyarrow's JSON inference) has every
    key any row had: a key a row lacks is null there and is left out of its map, in the struct's key
    order; a row without `rewards` stays null. Done in Arrow so the keys are data, never SQL.
    """
    if not pa.types.is_struct(rewards.type):
        return rewards
    if rewards.type.num_fields == 0:
        return None
    typ = pa.map_(pa.string(), pa.float64())
    return pa.chunked_array([_struct_to_map(chunk) for chunk in rewards.chunks], type=typ)


def _struct_to_map(struct: pa.StructArray) -> pa.MapArray:
    n, k = len(struct), struct.type.num_fields
    keys = pa.array([f.name for f in struct.type], pa.string())
    # flatten() applies the struct's own nulls to its fields: a null row then has no entries.
    values = pa.concat_arrays([pc.cast(f, pa.float64()) for f in struct.flatten()])  # field by field
    row_major = (np.arange(n)[:, None] + n * np.arange(k)[None, :]).ravel()  # row by row, keys in order
    values = values.take(pa.array(row_major))
    present = pc.is_valid(values)
    per_row = present.to_numpy(zero_copy_only=False).reshape(n, k).sum(axis=1)
    offsets = pa.array(np.concatenate([[0], np.cumsum(per_row)]), pa.int32())
    names = keys.take(pa.array(np.tile(np.arange(k), n))).filter(present)
    mask = pc.is_null(struct) if struct.null_count else None
    return pa.MapArray.from_arrays(offsets, names, values.filter(present), mask=mask)
