"""DuckDB's memory cap: one setting for every connection rlaudit opens (ingest, store reads, signals).

`RLAUDIT_MEMORY_LIMIT` (default 1GB) is how a CLI user raises it; past it DuckDB spills to disk where
it can, and where it cannot, the work fails with `MemoryLimitError`: one line naming the variable,
exit 3, no traceback (`rlaudit.cli.guarded`). A value DuckDB cannot read as a size is bad input
(`BadMemoryLimit`, exit 2), raised when the first connection is opened, before anything is written.
"""

from __future__ import annotations

import os

import duckdb

MEMORY_ENV = "RLAUDIT_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GB"
"""Enough for the signals of 10M rollouts with spilling (docs/benchmarks.md, "Monitor cost on real run
shapes"); small enough to leave a laptop usable."""


class MemoryLimitError(RuntimeError):
    """DuckDB hit the memory cap (or the cap is unreadable): a limit the user can raise, not a bug."""


class BadMemoryLimit(MemoryLimitError, ValueError):
    """The cap is not a size DuckDB reads (bad input: the CLI exits 2)."""


def memory_limit() -> str:
    """The cap in force: `$RLAUDIT_MEMORY_LIMIT`, else `DEFAULT_MEMORY_LIMIT`."""
    return os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_LIMIT)


def limited_connection(limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection under `limit` (default: `memory_limit()`)."""
    limit = limit or memory_limit()
    con = duckdb.connect()
    try:
        con.execute("SET memory_limit = ?", [limit])
    except duckdb.Error as e:
        con.close()
        raise BadMemoryLimit(
            f"memory limit {limit!r} is not a size DuckDB reads: set {MEMORY_ENV} like 4GB or 512MB ({e})"
        ) from None
    return con


def out_of_memory(e: duckdb.OutOfMemoryException, limit: str, doing: str) -> MemoryLimitError:
    """The one-line error for DuckDB running out of memory while `doing` something."""
    return MemoryLimitError(
        f"DuckDB ran out of memory {doing} under memory_limit={limit}: raise it with {MEMORY_ENV} "
        f"(e.g. {MEMORY_ENV}=4GB; SignalsConfig.memory_limit in Python)"
    )
