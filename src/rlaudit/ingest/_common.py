"""Helpers shared by the multi-file ingest formats (trl, verl): validate every file, then append."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa

from rlaudit.records import normalize_many
from rlaudit.records.store import NewSource

if TYPE_CHECKING:
    from rlaudit.ingest import IngestResult
    from rlaudit.records import RolloutStore

T = TypeVar("T")

# Validated tables kept in memory between the validation pass and the append pass; past this the
# files are converted a second time instead (bounded memory for long runs, one pass for small ones).
CACHE_BYTES = 256 << 20
# Files are stored in batches of about this many bytes of rows: one DuckDB pass, one store directory
# and one ledger update per batch (a folder of small per-step files is a handful of batches).
BATCH_BYTES = 64 << 20


@dataclass
class Pending:
    """One source file to append: `produce()` reads, converts and validates it (raises RecordError).

    With `run` set, `produce()` gives the file's records *before* `rlaudit.records.normalize`, and they
    are normalized under that run together with the other files of their batch (`normalize_many`: one
    DuckDB pass for many small files); otherwise it gives normalized tables."""

    path: Path
    fmt: str
    produce: Callable[[], list[pa.Table]]
    n_bytes: int | None = None
    run: str | None = None


@dataclass
class Batch:
    """Source files to store together: their ledger entries (`rows` given), their normalized rows, and
    how to make those rows again (when they were not kept in memory between validating and storing)."""

    sources: list[NewSource]
    tables: list[pa.Table] | None
    again: Callable[[], list[pa.Table]]


def append_all(store: RolloutStore, pending: list[Pending], result: IngestResult) -> None:
    """`append_batches` for files produced one by one (`Pending`), in batches of `BATCH_BYTES`."""

    def batches() -> Iterator[Batch]:
        for files in _batches(pending):
            tables, rows = _normalized(files)
            sources = [NewSource(p.path, p.fmt, p.n_bytes, n) for p, n in zip(files, rows, strict=True)]
            yield Batch(sources, tables, partial(lambda f: _normalized(f)[0], files))

    append_batches(store, batches(), result)


def append_batches(store: RolloutStore, batches: Iterable[Batch], result: IngestResult) -> None:
    """All or nothing across files. Inside `RolloutStore.writing` (the CLI) the store's transaction
    gives that: each batch is stored as soon as it is made, in one pass over the files. Outside one,
    every batch is validated before the first is stored (kept in memory up to `CACHE_BYTES`, made
    again past that); each batch is visible in one `store.append_many`, and only an I/O failure
    between two batches can leave part of a folder stored (re-running the ingest finishes it).
    """
    batches = (b for b in batches if b.sources)  # every file of it stored already
    if store.in_transaction:
        for b in batches:
            result.rows_added += store.append_many(b.tables if b.tables is not None else b.again(), b.sources)
        return
    kept: list[Batch] = []
    used = 0
    for b in batches:
        size = sum(t.nbytes for t in b.tables or [])
        cached = used + size <= CACHE_BYTES
        used += size if cached else 0
        kept.append(Batch(b.sources, b.tables if cached else None, b.again))
    for b in kept:
        result.rows_added += store.append_many(b.tables if b.tables is not None else b.again(), b.sources)


def by_bytes(items: list[T], size: Callable[[T], int]) -> Iterator[list[T]]:
    """Consecutive items in groups of about `BATCH_BYTES` (by `size`, on disk)."""
    batch: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if batch and total + n > BATCH_BYTES:
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += n
    if batch:
        yield batch


def _batches(pending: list[Pending]) -> Iterator[list[Pending]]:
    return by_bytes(pending, lambda p: p.path.stat().st_size if p.n_bytes is None else p.n_bytes)


def _normalized(batch: list[Pending]) -> tuple[list[pa.Table], list[int]]:
    """A batch's normalized tables and rows per file (raises RecordError for the first bad file)."""
    tables: list[pa.Table] = []
    rows: list[int] = []
    raw: dict[str, list[tuple[pa.Table, str]]] = {}  # run -> files to normalize together
    for p in batch:
        produced = p.produce()
        rows.append(sum(t.num_rows for t in produced))
        if p.run is None:
            tables += produced
        else:
            raw.setdefault(p.run, []).extend((t, str(p.path)) for t in produced)
    for run, parts in raw.items():
        tables += normalize_many(parts, run=run)
    return tables, rows
