"""Helpers shared by the multi-file ingest formats (trl, verl): validate every file, then append."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from rlaudit.ingest import IngestResult
    from rlaudit.records import RolloutStore

# Validated tables kept in memory between the validation pass and the append pass; past this the
# file is converted a second time instead (bounded memory for long runs, one pass for small ones).
CACHE_BYTES = 256 << 20


@dataclass
class Pending:
    """One source file to append: `produce()` reads, converts and validates it (raises RecordError)."""

    path: Path
    fmt: str
    produce: Callable[[], list[pa.Table]]
    n_bytes: int | None = None


def append_all(store: RolloutStore, pending: list[Pending], result: IngestResult) -> None:
    """All or nothing across files: every file is validated before the first one is appended.

    Each file still becomes visible in its own `store.append` (atomic per file); only an I/O failure
    between two appends can leave part of a folder stored, and re-running the ingest finishes it.
    """
    cache: dict[int, list[pa.Table]] = {}
    used = 0
    for i, p in enumerate(pending):
        tables = p.produce()
        size = sum(t.nbytes for t in tables)
        if used + size <= CACHE_BYTES:
            cache[i] = tables
            used += size
    for i, p in enumerate(pending):
        tables = cache.pop(i) if i in cache else p.produce()
        result.rows_added += store.append(iter(tables), path=p.path, fmt=p.fmt, n_bytes=p.n_bytes)
