"""The rollout record: its schema, validation into that schema, and the append-only `RolloutStore`.

Every ingest format turns its input into Arrow batches whose columns use the names of the generic
record (see `FIELDS`); `normalize` validates them, fills the defaults (run, prompt_id, group) and
packs unknown columns into the JSON `extra` column, so nothing the user logged is dropped.

The store is a directory of Parquet files queried with DuckDB::

    store/
      sources.json               what has been ingested (content hash, byte length, rows) -> no duplicates
      rollouts/<source-id>/part-00000.parquet
      .staging/                  parts being written; renamed into rollouts/ in one step when valid

A source's parts become visible in one `os.rename` of its directory, so a reader never sees half an
ingest, and a bad file leaves nothing behind. Readers can query while a run is still appending.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = 1


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
REQUIRED = tuple(name for name, (_, req, _) in FIELDS.items() if req)


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
    names = set(table.column_names)
    for name in REQUIRED:
        if name not in names:
            raise RecordError(f"{source}: row {first_row}: missing required field '{name}'")
    for name, (_, required, kind) in FIELDS.items():
        if name not in names:
            continue
        col = table.column(name)
        if not _kind_ok(col.type, kind):
            raise RecordError(
                f"{source}: rows from {first_row}: field '{name}' must be {_type_name(kind)}, got {col.type}"
            )
        if required and name != "reward" and col.null_count:
            bad = _first_index(pc.is_null(col))
            raise RecordError(f"{source}: row {first_row + bad}: required field '{name}' is null")
        if kind == "int" and pa.types.is_floating(col.type):
            frac = pc.not_equal(col, pc.floor(col))
            if pc.any(frac).as_py():
                bad = _first_index(pc.fill_null(frac, False))
                raise RecordError(f"{source}: row {first_row + bad}: field '{name}' must be an integer")
        if kind == "float" and pa.types.is_floating(col.type):
            inf = pc.is_inf(col)
            if pc.any(inf).as_py():
                bad = _first_index(pc.fill_null(inf, False))
                raise RecordError(f"{source}: row {first_row + bad}: field '{name}' is infinite")
    return _to_store_schema(table, source=source, first_row=first_row, run=run)


def _first_index(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _to_store_schema(table: pa.Table, *, source: str, first_row: int, run: str) -> pa.Table:
    """Defaults and extras in one DuckDB pass (md5 and to_json are vectorised there)."""
    names = table.column_names
    extras = [n for n in names if n not in FIELDS]

    def col(name: str) -> str:
        return f'"{name}"' if name in names else "NULL"

    def q(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    if "rewards" in names and pa.types.is_struct(table.column("rewards").type):
        keys = [f.name for f in table.column("rewards").type]
        # A struct (pyarrow's JSON inference) has every key any row had: a key a row lacks is null
        # there and is left out of its map; a row without `rewards` stays null.
        entries = ", ".join(f"{{'key': {q(k)}, 'value': CAST(rewards.{_ident(k)} AS DOUBLE)}}" for k in keys)
        rewards = (
            "CASE WHEN rewards IS NULL THEN NULL ELSE "
            f"map_from_entries(list_filter([{entries}], lambda e: e.value IS NOT NULL)) END"
            if keys
            else "NULL"
        )
    elif "rewards" in names:
        rewards = "CAST(rewards AS MAP(VARCHAR, DOUBLE))"
    else:
        rewards = "NULL"
    prompt_id = f"COALESCE(CAST({col('prompt_id')} AS VARCHAR), substr(md5(prompt), 1, 16))"
    extra = (
        "CAST(to_json(struct_pack("
        + ", ".join(f"{_ident(n)} := {_ident(n)}" for n in extras)
        + ")) AS VARCHAR)"
        if extras
        else "NULL"
    )
    sql = f"""
        SELECT
            COALESCE(CAST({col("run")} AS VARCHAR), {q(run)}) AS run,
            CAST(step AS BIGINT) AS step,
            CAST(prompt AS VARCHAR) AS prompt,
            CAST(completion AS VARCHAR) AS completion,
            -- Unscored (null or NaN) is stored as NULL, never NaN: pyarrow leaves NaN out of Parquet
            -- min/max statistics and DuckDB then folds isnan() to false from them.
            {_nan_to_null("reward")} AS reward,
            {prompt_id} AS prompt_id,
            COALESCE(CAST({col("group")} AS VARCHAR), CAST(step AS VARCHAR) || ':' || {prompt_id}) AS "group",
            {rewards} AS rewards,
            CAST({col("split")} AS VARCHAR) AS split,
            CAST({col("condition")} AS VARCHAR) AS condition,
            CAST({col("answer")} AS VARCHAR) AS answer,
            CAST({col("correct")} AS BOOLEAN) AS correct,
            CAST({col("n_tokens")} AS BIGINT) AS n_tokens,
            {_nan_to_null(col("entropy"))} AS entropy,
            {_nan_to_null(col("logprob"))} AS logprob,
            {_nan_to_null(col("advantage"))} AS advantage,
            {extra} AS extra,
            {q(source)} AS source,
            CAST(row_number() OVER () + {first_row - 1} AS BIGINT) AS "row"
        FROM batch
    """
    con = duckdb.connect()
    try:
        con.register("batch", table)
        out = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    return out.cast(STORE_SCHEMA)


def _nan_to_null(expr: str) -> str:
    return f"CASE WHEN isnan(CAST({expr} AS DOUBLE)) THEN NULL ELSE CAST({expr} AS DOUBLE) END"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class SourceRecord:
    """One ingested input: identified by content so re-ingesting it is a no-op."""

    id: str
    path: str
    format: str
    bytes: int
    sha256: str  # of the first `bytes` bytes of the file
    rows: int


def file_sha256(path: Path, n_bytes: int | None = None) -> str:
    """SHA-256 of the file, or of its first `n_bytes` bytes."""
    h = hashlib.sha256()
    left = n_bytes if n_bytes is not None else -1
    with open(path, "rb") as f:
        while left != 0:
            chunk = f.read(1 << 20 if left < 0 else min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            if left > 0:
                left -= len(chunk)
    return h.hexdigest()


class RolloutStore:
    """Append-only rollouts on disk (Parquet parts), queried with DuckDB.

    >>> store = RolloutStore("runs/store")
    >>> store.append(batches, source_path="rollouts.jsonl", fmt="jsonl")  # doctest: +SKIP
    >>> store.connect().sql("SELECT count(*) FROM rollouts")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.rollouts_dir = self.path / "rollouts"
        self.rollouts_dir.mkdir(parents=True, exist_ok=True)
        (self.path / ".staging").mkdir(exist_ok=True)

    # -- what has been ingested ---------------------------------------------------------------
    @property
    def _sources_file(self) -> Path:
        return self.path / "sources.json"

    def sources(self) -> list[SourceRecord]:
        if not self._sources_file.exists():
            return []
        data = json.loads(self._sources_file.read_text())
        return [SourceRecord(**s) for s in data["sources"]]

    def _write_sources(self, sources: list[SourceRecord]) -> None:
        tmp = self._sources_file.with_suffix(".json.tmp")
        tmp.write_text(
            json.dumps({"schema_version": SCHEMA_VERSION, "sources": [asdict(s) for s in sources]}, indent=1)
        )
        os.replace(tmp, self._sources_file)

    def plan(self, path: Path) -> tuple[int, int] | None:
        """Where to resume reading `path`: None if its content is already stored,
        else (byte offset, rows already stored). A file that only grew since the last ingest
        (a live JSONL log) resumes after what was stored; anything else starts from 0."""
        size = path.stat().st_size
        known = self.sources()
        full = file_sha256(path)
        if any(s.sha256 == full and s.bytes == size for s in known):
            return None
        resolved = str(path.resolve())
        prior = [s for s in known if s.path == resolved]
        if prior:
            end = max(s.bytes for s in prior)
            if 0 < end < size and any(s.bytes == end and s.sha256 == file_sha256(path, end) for s in prior):
                return end, sum(s.rows for s in prior)
        return 0, 0

    # -- writing --------------------------------------------------------------------------------
    def append(self, tables: Iterable[pa.Table], *, path: Path, fmt: str, n_bytes: int | None = None) -> int:
        """Write normalized tables from one source file, all or nothing; returns rows written.

        `n_bytes` is how much of the file was consumed (defaults to its size), recorded with its
        hash so the same content is never stored twice.
        """
        n_bytes = path.stat().st_size if n_bytes is None else n_bytes
        source_id = uuid.uuid4().hex[:16]
        staging = self.path / ".staging" / source_id
        staging.mkdir(parents=True)
        rows = 0
        try:
            for i, table in enumerate(tables):
                if table.num_rows == 0:
                    continue
                import pyarrow.parquet as pq

                pq.write_table(table, staging / f"part-{i:05d}.parquet", compression="zstd")
                rows += table.num_rows
            record = SourceRecord(
                id=source_id,
                path=str(path.resolve()),
                format=fmt,
                bytes=n_bytes,
                sha256=file_sha256(path, n_bytes),
                rows=rows,
            )
            os.rename(staging, self.rollouts_dir / source_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._write_sources([*self.sources(), record])
        return rows

    def append_table(self, table: pa.Table, *, name: str) -> int:
        """Write one normalized table from a live producer (the training callback); visible at once."""
        if table.num_rows == 0:
            return 0
        import pyarrow.parquet as pq

        part_dir = self.rollouts_dir / name
        part_dir.mkdir(exist_ok=True)
        tmp = self.path / ".staging" / f"{name}-{uuid.uuid4().hex[:8]}.parquet"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, part_dir / f"part-{uuid.uuid4().hex[:12]}.parquet")
        return table.num_rows

    def append_metrics(self, table: pa.Table, *, path: Path) -> int:
        """Store per-step metrics (METRICS_SCHEMA) from a metrics-only source, once per content."""
        table = table.cast(METRICS_SCHEMA)
        metrics_dir = self.path / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        source_id = uuid.uuid4().hex[:16]
        import pyarrow.parquet as pq

        tmp = self.path / ".staging" / f"{source_id}.parquet"
        pq.write_table(table, tmp)
        os.replace(tmp, metrics_dir / f"{source_id}.parquet")
        record = SourceRecord(
            id=source_id,
            path=str(path.resolve()),
            format="trl-state",
            bytes=path.stat().st_size,
            sha256=file_sha256(path),
            rows=table.num_rows,
        )
        self._write_sources([*self.sources(), record])
        return table.num_rows

    # -- reading --------------------------------------------------------------------------------
    @property
    def glob(self) -> str:
        return str(self.rollouts_dir / "*" / "*.parquet")

    def is_empty(self) -> bool:
        """No rollouts stored (metrics-only sources do not count)."""
        return not any(self.rollouts_dir.glob("*/*.parquet"))

    def has_metrics(self) -> bool:
        return any((self.path / "metrics").glob("*.parquet"))

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with a `rollouts` view over everything stored so far."""
        con = con or duckdb.connect()
        if self.is_empty():
            con.register("rollouts_empty", STORE_SCHEMA.empty_table())
            con.execute("CREATE OR REPLACE VIEW rollouts AS SELECT * FROM rollouts_empty")
        else:
            glob = self.glob.replace("'", "''")
            con.execute(f"CREATE OR REPLACE VIEW rollouts AS SELECT * FROM read_parquet('{glob}')")
        metrics = list((self.path / "metrics").glob("*.parquet"))
        if metrics:
            mglob = str(self.path / "metrics" / "*.parquet").replace("'", "''")
            con.execute(f"CREATE OR REPLACE VIEW metrics AS SELECT * FROM read_parquet('{mglob}')")
        else:
            con.register("metrics_empty", METRICS_SCHEMA.empty_table())
            con.execute("CREATE OR REPLACE VIEW metrics AS SELECT * FROM metrics_empty")
        return con

    def count(self) -> int:
        con = self.connect()
        try:
            row = con.execute("SELECT count(*) FROM rollouts").fetchone()
            return int(row[0]) if row else 0
        finally:
            con.close()


def jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as plain JSON types (map columns come back from Arrow as key/value lists)."""
    out = dict(row)
    if isinstance(out.get("rewards"), list):
        out["rewards"] = dict(out["rewards"])
    return out
