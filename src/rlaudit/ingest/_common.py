"""Helpers shared by the multi-file ingest formats (trl, verl): validate every file, then append."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from rlaudit.records import normalize_many
from rlaudit.records.store import NewSource

if TYPE_CHECKING:
    from rlaudit.ingest import IngestResult
    from rlaudit.records import RolloutStore

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
class _Batch:
    pending: list[Pending]
    tables: list[pa.Table] | None = None  # normalized, when cached
    rows: list[int] | None = None


def append_all(store: RolloutStore, pending: list[Pending], result: IngestResult) -> None:
    """All or nothing across files: every file is validated before the first one is appended.

    Files are stored in batches (`BATCH_BYTES`), each visible in one `store.append_many` (atomic per
    batch); only an I/O failure between two batches can leave part of a folder stored, and re-running
    the ingest finishes it.
    """
    batches: list[_Batch] = []
    used = 0
    for batch, tables, rows in _normalized(_batches(pending)):
        size = sum(t.nbytes for t in tables)
        cached = used + size <= CACHE_BYTES
        used += size if cached else 0
        batches.append(_Batch(batch, tables if cached else None, rows))
    for b in batches:
        if b.tables is None:
            _, b.tables, b.rows = next(_normalized(iter([b.pending])))
        sources = [
            NewSource(p.path, p.fmt, p.n_bytes, n) for p, n in zip(b.pending, b.rows or [], strict=True)
        ]
        result.rows_added += store.append_many(b.tables, sources)


def _batches(pending: list[Pending]) -> Iterator[list[Pending]]:
    """Consecutive files in groups of about `BATCH_BYTES` on disk."""
    batch: list[Pending] = []
    size = 0
    for p in pending:
        n = p.path.stat().st_size if p.n_bytes is None else p.n_bytes
        if batch and size + n > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(p)
        size += n
    if batch:
        yield batch


def _normalized(
    batches: Iterator[list[Pending]],
) -> Iterator[tuple[list[Pending], list[pa.Table], list[int]]]:
    """Each batch's normalized tables and rows per file (raises RecordError for the first bad file)."""
    for batch in batches:
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
        yield batch, tables, rows
