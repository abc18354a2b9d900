"""The append-only `RolloutStore`: a directory of Parquet files queried with DuckDB::

    store/
      sources.json               what has been ingested (content hash, byte length, rows) -> no duplicates
      rollouts/<source-id>/part-00000.parquet
      metrics/<source-id>.parquet  metrics-only inputs (trainer_state.json)
      .staging/                  parts being written; renamed into rollouts/ in one step when valid

A source's parts become visible in one `os.rename` of its directory, so a reader never sees half an
ingest, and a bad file leaves nothing behind; then `sources.json` is replaced (temp file + rename) by
one that lists it. A batch of sources (`append_many`: a folder of TRL's per-step files) is one
directory, one rename and one rewrite of `sources.json`, its sources sharing the directory's id: a
folder of 30,000 files is not 30,000 rewrites of a growing ledger. Readers can query while a run is
still appending.
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

from rlaudit.records.schema import METRICS_SCHEMA, STORE_SCHEMA

SCHEMA_VERSION = 1
"""Version of ``sources.json``."""


@dataclass
class SourceRecord:
    """One ingested input: identified by content so re-ingesting it is a no-op."""

    id: str  # the directory under rollouts/ (or the metrics file) its rows are in
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
        self._ledger: _Ledger | None = None

    # -- what has been ingested ---------------------------------------------------------------
    @property
    def _sources_file(self) -> Path:
        return self.path / "sources.json"

    def sources(self) -> list[SourceRecord]:
        return list(self._read_ledger().sources)

    def _read_ledger(self) -> _Ledger:
        """`sources.json`, parsed once per version of the file (it is only ever replaced, so its inode,
        size and time tell the versions apart): `plan` runs once per file of a folder."""
        try:
            st = self._sources_file.stat()
        except FileNotFoundError:
            return _Ledger.of([], None)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._ledger is None or self._ledger.key != key:
            data = json.loads(self._sources_file.read_text())
            self._ledger = _Ledger.of([SourceRecord(**s) for s in data["sources"]], key)
        return self._ledger

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
        ledger = self._read_ledger()
        full = file_sha256(path)
        if (full, size) in ledger.contents:
            return None
        resolved = str(path.resolve())
        prior = ledger.by_path.get(resolved, [])
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
        return self._commit(tables, [NewSource(path, fmt, n_bytes)])[0]

    def append_many(self, tables: Iterable[pa.Table], sources: list[NewSource]) -> int:
        """Write the normalized rows of several source files as one batch, all or nothing: one
        directory, one rename, one update of `sources.json`. Each source's `rows` must be given (the
        tables may mix sources); returns rows written."""
        if any(s.rows is None for s in sources):
            raise ValueError("append_many: every source needs its row count")
        return sum(self._commit(tables, sources))

    def _commit(self, tables: Iterable[pa.Table], sources: list[NewSource]) -> list[int]:
        """Stage `tables`, rename them into rollouts/ in one step, then list `sources` in the ledger;
        returns each source's rows (a lone source without `rows` is given all that were written)."""
        sizes = [s.path.stat().st_size if s.n_bytes is None else s.n_bytes for s in sources]  # before reading
        batch_id = uuid.uuid4().hex[:16]
        staging = self.path / ".staging" / batch_id
        staging.mkdir(parents=True)
        try:
            written = 0
            for i, table in enumerate(tables):
                if table.num_rows == 0:
                    continue
                import pyarrow.parquet as pq

                pq.write_table(table, staging / f"part-{i:05d}.parquet", compression="zstd")
                written += table.num_rows
            counted = [written] if sources[0].rows is None else [s.rows or 0 for s in sources]
            if sum(counted) != written:
                raise ValueError(f"append_many: {written} rows written, the sources say {sum(counted)}")
            records = []
            for s, n_bytes, rows in zip(sources, sizes, counted, strict=True):
                sha = file_sha256(s.path, n_bytes)
                records.append(SourceRecord(batch_id, str(s.path.resolve()), s.fmt, n_bytes, sha, rows))
            os.rename(staging, self.rollouts_dir / batch_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._write_sources([*self.sources(), *records])
        return counted

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
        # The store's path is user-given: it reaches DuckDB through the relation API as a value, never
        # in SQL text. The view re-expands the glob on every query, so parts landing later are seen.
        if self.is_empty():
            con.register("rollouts_empty", STORE_SCHEMA.empty_table())
            con.execute("CREATE OR REPLACE VIEW rollouts AS SELECT * FROM rollouts_empty")
        else:
            con.read_parquet(self.glob).create_view("rollouts", replace=True)
        if self.has_metrics():
            con.read_parquet(str(self.path / "metrics" / "*.parquet")).create_view("metrics", replace=True)
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


@dataclass(frozen=True)
class NewSource:
    """A source file about to be stored: what its ledger record is made of."""

    path: Path
    fmt: str
    n_bytes: int | None = None
    """How much of the file was consumed (default: all of it)."""
    rows: int | None = None
    """Its rows among the tables of a batch (`append_many`); counted when one source is written alone."""


@dataclass(frozen=True)
class _Ledger:
    """`sources.json` as read, with lookups by content and by path (a folder's files are each looked up)."""

    key: tuple[int, int, int] | None
    sources: tuple[SourceRecord, ...]
    contents: frozenset[tuple[str, int]]
    by_path: dict[str, list[SourceRecord]]

    @classmethod
    def of(cls, sources: list[SourceRecord], key: tuple[int, int, int] | None) -> _Ledger:
        by_path: dict[str, list[SourceRecord]] = {}
        for s in sources:
            by_path.setdefault(s.path, []).append(s)
        return cls(key, tuple(sources), frozenset((s.sha256, s.bytes) for s in sources), by_path)


def jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as plain JSON types (map columns come back from Arrow as key/value lists)."""
    out = dict(row)
    if isinstance(out.get("rewards"), list):
        out["rewards"] = dict(out["rewards"])
    return out
