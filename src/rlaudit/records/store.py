"""The append-only `RolloutStore`: a directory of Parquet files queried with DuckDB::

    store/
      sources.json               what has been ingested (content hash, byte length, rows) -> no duplicates
      rollouts/<source-id>/part-00000.parquet
      metrics/<source-id>.parquet  metrics-only inputs (trainer_state.json)
      .staging/                  parts being written; renamed into rollouts/ in one step when valid

A source's parts become visible in one `os.rename` of its directory, so a reader never sees half an
ingest, and a bad file leaves nothing behind; then `sources.json` is replaced (temp file + rename) by
one that lists it. The two commit together: a publish writes its intent first (`rlaudit.records.journal`)
and whoever next takes the lock finishes a publish that a killed process left half done, so a re-run
never stores an input twice. A batch of sources (`append_many`: a folder of TRL's per-step files) is one
directory, one rename and one rewrite of `sources.json`, its sources sharing the directory's id: a
folder of 30,000 files is not 30,000 rewrites of a growing ledger. Readers can query while a run is
still appending.

A command that ingests several inputs writes inside `RolloutStore.writing()`: it holds the store's
write lock (`rlaudit.records.lock`: a second writer waits, then gets "store is in use by PID ...") and
defers every rename and the ledger update to its end, so an input with any bad file commits nothing.
Staging debris of a killed run is removed when a store is opened and no writer holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field  # (records as vars(): asdict deep-copies, 10x slower)
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from rlaudit.records import journal
from rlaudit.records.journal import Move
from rlaudit.records.ledger import SCHEMA_VERSION, Ledger, SourceRecord, StreamDigest, file_sha256
from rlaudit.records.lock import store_lock, try_store_lock
from rlaudit.records.memory import limited_connection
from rlaudit.records.schema import METRICS_SCHEMA, STORE_SCHEMA, RecordError

STAGING_GRACE_S = 600.0
"""Age past which a staged single file in ``.staging/`` counts as a killed run's debris."""


class RolloutStore:
    """Append-only rollouts on disk (Parquet parts), queried with DuckDB.

    >>> store = RolloutStore("runs/store")
    >>> store.append(batches, source_path="rollouts.jsonl", fmt="jsonl")  # doctest: +SKIP
    >>> store.connect().sql("SELECT count(*) FROM rollouts")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True):
        """Open the store at `path`; with `create=False` a missing folder is made only when something
        is written (`writing`), so bad input leaves no empty store behind."""
        self.path = Path(path)
        self.rollouts_dir = self.path / "rollouts"
        self._ledger: Ledger | None = None
        self._txn: _Transaction | None = None
        self._digests: dict[tuple[str, int, int, int, int], str] = {}
        self._folders: dict[Path, Path] = {}
        if create or self.path.is_dir():
            self._create()

    def _create(self) -> None:
        self.rollouts_dir.mkdir(parents=True, exist_ok=True)
        (self.path / ".staging").mkdir(exist_ok=True)
        self._housekeep()

    def _housekeep(self) -> None:
        """Finish what a killed writer left, unless a writer holds the store now: a half-done publish
        (`_recover`), then the debris in `.staging/` (never stored: a batch becomes visible only by its
        rename out of it, and a journalled one has just been moved out).

        Batch folders are staged only under the lock, so a free lock means they are debris. Single
        files are also staged by the live callback, which takes no lock: those go only once older
        than `STAGING_GRACE_S`, so a file being written at this moment is never pulled away.
        """
        staging = self.path / ".staging"
        dirty = journal.journal_path(self.path).exists() or journal.leftover_temp_files(self.path)
        if not dirty and not any(staging.iterdir()):
            return
        lock = try_store_lock(self.path)
        if lock is None:
            return
        try:
            self._recover()
            old = time.time() - STAGING_GRACE_S
            for debris in staging.iterdir():
                with contextlib.suppress(OSError):
                    if debris.is_dir():
                        shutil.rmtree(debris)
                    elif debris.stat().st_mtime < old:
                        debris.unlink()
        finally:
            lock.release()

    @contextlib.contextmanager
    def writing(self, *, timeout: float | None = None) -> Iterator[RolloutStore]:
        """Write several inputs as one: hold the store's lock, stage everything, and make it visible
        (renames, then one ledger update) only when the block ends without an exception. On an
        exception nothing is stored, and a store folder this call created is removed again. A second
        writer waits `timeout` seconds (default `rlaudit.records.lock.LOCK_TIMEOUT_S`), then gets
        `StoreBusy`."""
        created = not self.path.exists()
        if self.path.exists() and not self.path.is_dir():
            raise RecordError(f"store {self.path}: not a directory")
        try:
            self._create()
        except OSError as e:  # a read-only place, a missing parent: the user's choice of --store
            raise RecordError(f"store {self.path}: cannot create or open it ({e.strerror})") from None
        txn = _Transaction()
        try:
            with store_lock(self.path, timeout=timeout):
                self._recover()  # a writer killed since this store was opened
                self._txn = txn
                try:
                    yield self
                    self._txn = None
                    self._publish(txn.moves)
                finally:
                    self._txn = None
                    for move in txn.moves:  # left only when the block failed
                        if move.staged.is_dir():
                            shutil.rmtree(move.staged, ignore_errors=True)
                        else:
                            move.staged.unlink(missing_ok=True)
        except BaseException:
            if created:
                shutil.rmtree(self.path, ignore_errors=True)
            raise

    @property
    def in_transaction(self) -> bool:
        """Inside a `writing` block: what is appended becomes visible only when the block ends."""
        return self._txn is not None

    def _publish(self, moves: list[Move]) -> None:
        """The journal first, then the renames, then the ledger: from the journal on, the publish
        completes even if this process dies (the next holder of the lock rolls it forward)."""
        if moves:
            journal.begin(self.path, moves)
            self._apply(moves)
            journal.end(self.path)

    def _apply(self, moves: list[Move]) -> None:
        """Make the moves not yet made and list the records not yet listed (idempotent)."""
        listed = {(s.id, s.sha256, s.bytes) for s in self.sources()}
        new = [
            SourceRecord(**r)
            for r in journal.apply_moves(moves)
            if (r["id"], r["sha256"], r["bytes"]) not in listed
        ]
        if new:
            self._write_sources([*self.sources(), *new])

    def _recover(self) -> None:
        """Roll forward a publish that a killed writer left unfinished; call holding the lock."""
        moves = journal.pending(self.path)
        if moves is not None:
            self._apply(moves)
            journal.end(self.path)
        for tmp in journal.leftover_temp_files(self.path):
            tmp.unlink(missing_ok=True)

    # -- what has been ingested ---------------------------------------------------------------
    @property
    def _sources_file(self) -> Path:
        return self.path / "sources.json"

    def sources(self) -> list[SourceRecord]:
        return list(self._read_ledger().sources)

    def _read_ledger(self) -> Ledger:
        """`sources.json`, parsed once per version of the file (it is only ever replaced, so its inode,
        size and time tell the versions apart): `plan` runs once per file of a folder."""
        try:
            st = self._sources_file.stat()
        except FileNotFoundError:
            return Ledger.of([], None)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._ledger is None or self._ledger.key != key:
            data = json.loads(self._sources_file.read_text())
            self._ledger = Ledger.of([SourceRecord(**s) for s in data["sources"]], key)
        return self._ledger

    def _write_sources(self, sources: list[SourceRecord]) -> None:
        tmp = self._sources_file.with_suffix(f".json.{os.getpid()}.tmp")  # never shared by two writers
        tmp.write_text(
            json.dumps({"schema_version": SCHEMA_VERSION, "sources": [vars(s) for s in sources]}, indent=1)
        )
        os.replace(tmp, self._sources_file)

    def plan(self, path: Path) -> tuple[int, int] | None:
        """Where to resume reading `path`: None if its content is already stored,
        else (byte offset, rows already stored). A file that only grew since the last ingest
        (a live JSONL log) resumes after what was stored; anything else starts from 0.

        A file is hashed here only when a record of its length exists (else it cannot be stored
        already), and each (file, length) at most once per store object: the record written for it
        reuses the hash (`sha256`), or the reader's `StreamDigest`."""
        size = path.stat().st_size
        ledger = self._read_ledger()
        staged = [r for m in self._txn.moves for r in m.records] if self._txn is not None else []
        if size in ledger.sizes or any(r["bytes"] == size for r in staged):
            full = self.sha256(path, size)
            if (full, size) in ledger.contents:
                return None
            if any(r["sha256"] == full and r["bytes"] == size for r in staged):
                return None  # already staged by this command
        prior = ledger.by_path.get(self._resolved(path), []) if ledger.by_path else []
        if prior:
            end = max(s.bytes for s in prior)
            if 0 < end < size and any(s.bytes == end and s.sha256 == self.sha256(path, end) for s in prior):
                return end, sum(s.rows for s in prior)
        return 0, 0

    def sha256(self, path: Path, n_bytes: int) -> str:
        """`file_sha256(path, n_bytes)`, remembered for this version of the file (its inode, size and
        modification time): `plan` and the ledger record of one ingest hash a file once."""
        st = path.stat()
        key = (str(path), n_bytes, st.st_ino, st.st_size, st.st_mtime_ns)
        digest = self._digests.get(key)
        if digest is None:
            digest = file_sha256(path, None if n_bytes == st.st_size else n_bytes)
            self._digests[key] = digest
        return digest

    # -- writing --------------------------------------------------------------------------------
    def append(
        self,
        tables: Iterable[pa.Table],
        *,
        path: Path,
        fmt: str,
        n_bytes: int | None = None,
        digest: StreamDigest | None = None,
    ) -> int:
        """Write normalized tables from one source file, all or nothing; returns rows written.

        `n_bytes` is how much of the file was consumed (defaults to its size), recorded with its
        hash so the same content is never stored twice. `digest`: the hash the reader of `tables`
        computed as it read the file (used once the tables are consumed, if it saw those bytes).
        """
        return self._commit(tables, [NewSource(path, fmt, n_bytes, digest=digest)])[0]

    def append_many(self, tables: Iterable[pa.Table], sources: list[NewSource]) -> int:
        """Write the normalized rows of several source files as one batch, all or nothing: one
        directory, one rename, one update of `sources.json`. Each source's `rows` must be given (the
        tables may mix sources); returns rows written."""
        if any(s.rows is None for s in sources):
            raise ValueError("append_many: every source needs its row count")
        return sum(self._commit(tables, sources))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The write lock for one append made outside a `writing` block (inside one it is held)."""
        if self._txn is not None:
            yield
            return
        with store_lock(self.path):
            self._recover()
            yield

    def _commit(self, tables: Iterable[pa.Table], sources: list[NewSource]) -> list[int]:
        """Stage `tables`, rename them into rollouts/ in one step, then list `sources` in the ledger;
        returns each source's rows (a lone source without `rows` is given all that were written)."""
        with self._locked():
            return self._commit_locked(tables, sources)

    def _commit_locked(self, tables: Iterable[pa.Table], sources: list[NewSource]) -> list[int]:
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
            records = tuple(
                vars(SourceRecord(batch_id, self._resolved(s.path), s.fmt, n, self._digest_of(s, n), rows))
                for s, n, rows in zip(sources, sizes, counted, strict=True)
            )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        move = Move(staging, self.rollouts_dir / batch_id, records)
        if self._txn is not None:  # made visible when the `writing` block ends
            self._txn.moves.append(move)
        else:
            self._publish([move])
        return counted

    def _resolved(self, path: Path) -> str:
        """`path.resolve()`, its folder resolved once (a folder of 30,000 files: one lstat each, not
        one per component of the path)."""
        if path.is_symlink():
            return str(path.resolve())
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        return str(folder / path.name)

    def _digest_of(self, source: NewSource, n_bytes: int) -> str:
        if source.digest is not None and source.digest.n_bytes == n_bytes:
            return source.digest.hexdigest()
        return self.sha256(source.path, n_bytes)

    def append_table(self, table: pa.Table, *, name: str, part: str | None = None) -> int:
        """Write one normalized table from a live producer (the training callback); visible at once.
        A `part` name makes the write idempotent: writing the same part again replaces it."""
        if table.num_rows == 0:
            return 0
        import pyarrow.parquet as pq

        part_dir = self.rollouts_dir / name
        part_dir.mkdir(exist_ok=True)
        tmp = self.path / ".staging" / f"{name}-{uuid.uuid4().hex[:8]}.parquet"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, part_dir / f"{part or 'part-' + uuid.uuid4().hex[:12]}.parquet")
        return table.num_rows

    def append_metrics(self, table: pa.Table, *, path: Path) -> int:
        """Store per-step metrics (METRICS_SCHEMA) from a metrics-only source, once per content."""
        with self._locked():
            return self._append_metrics_locked(table, path=path)

    def _append_metrics_locked(self, table: pa.Table, *, path: Path) -> int:
        table = table.cast(METRICS_SCHEMA)
        metrics_dir = self.path / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        source_id = uuid.uuid4().hex[:16]
        import pyarrow.parquet as pq

        tmp = self.path / ".staging" / f"{source_id}.parquet"
        pq.write_table(table, tmp)
        record = SourceRecord(
            id=source_id,
            path=str(path.resolve()),
            format="trl-state",
            bytes=path.stat().st_size,
            sha256=file_sha256(path),
            rows=table.num_rows,
        )
        move = Move(tmp, metrics_dir / f"{source_id}.parquet", (vars(record),))
        if self._txn is not None:
            self._txn.moves.append(move)
        else:
            self._publish([move])
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
        con = con or limited_connection()
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
    digest: StreamDigest | None = None
    """The hash its reader computed while reading it, if any (see `RolloutStore.append`)."""


@dataclass
class _Transaction:
    """What a `RolloutStore.writing` block has staged: each staged path, its final path, its records."""

    moves: list[Move] = field(default_factory=list)


def jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as plain JSON types (map columns come back from Arrow as key/value lists)."""
    out = dict(row)
    if isinstance(out.get("rewards"), list):
        out["rewards"] = dict(out["rewards"])
    return out
