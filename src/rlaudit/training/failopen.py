"""How the live monitor stays out of training's way without going blind (issue 15).

A monitor inside a multi-day run must never be what kills it, and must not silently stop watching:

- `FaultLog` and `fail_open`: an exception inside rlaudit, at any callback entry point, becomes one
  warning per kind of fault (the first, with its traceback) and a count (`rlaudit/errors` in the
  tracker); nothing is raised into the trainer.
- `normalize_keeping_good`: one bad row (an infinite reward, a garbage value a reward function
  logged) is set aside, never the rows captured with it.
- `RowBuffer`: rows the store cannot take right now (a read-only or full disk) stay buffered and are
  written when it works again; past `max_rows` the oldest are spilled to side files, which are written
  to the store first once it does. Each chunk of rows has a fixed part name, so writing it twice
  (a retry, a resumed run) replaces the part instead of adding its rows again.
- `Backoff`: a detector pass that keeps failing is retried ever less often.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from rlaudit.records import RecordError

logger = logging.getLogger("rlaudit.training.monitor_callback")

F = TypeVar("F", bound=Callable[..., Any])


class FaultLog:
    """Faults inside the monitor, counted by kind; the first of each kind is logged as a warning."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # the training thread and the background judge both record

    def record(self, kind: str, exc: BaseException | None = None, *, n: int = 1) -> None:
        with self._lock:
            first = kind not in self.counts
            self.counts[kind] += n
        if first:  # one warning per kind: a fault repeated every step must not flood the training log
            logger.warning(
                "rlaudit monitor: %s (training continues; further faults of this kind are only counted"
                " in rlaudit/errors)",
                kind if exc is None else f"{kind}: {exc}",
                exc_info=exc,
            )

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())


def fail_open(where: str, default: Any = None) -> Callable[[F], F]:
    """Decorate a method of an object with a `faults: FaultLog`: an exception becomes a fault of kind
    "`where`: ExceptionType" and the method returns `default`."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except Exception as e:  # the whole point: never into the training loop
                self.faults.record(f"{where}: {type(e).__name__}", e)
                return default

        return guarded  # type: ignore[return-value]

    return decorate


def normalize_keeping_good(
    raw: pa.Table, normalize: Callable[[pa.Table, int], pa.Table], first_row: int
) -> tuple[list[pa.Table], list[tuple[int, dict[str, Any], str]]]:
    """`normalize(raw, first_row)`, or when that refuses the batch, the batch split in halves until each
    bad row stands alone: (normalized tables of the good rows, [(row number, row, error)] of the bad).
    One bad row costs about 2·log2(rows) normalize passes, and only when there is one."""
    try:
        return [normalize(raw, first_row)], []
    except RecordError as e:
        if raw.num_rows <= 1:
            return [], [(first_row, _plain(raw), str(e))]
    half = raw.num_rows // 2
    good, bad = normalize_keeping_good(raw.slice(0, half), normalize, first_row)
    good2, bad2 = normalize_keeping_good(raw.slice(half), normalize, first_row + half)
    return good + good2, bad + bad2


def concat_or_each(tables: list[pa.Table]) -> list[pa.Table]:
    """The captured batches as one table (one validation pass), or each alone when their columns do
    not combine (a reward function that logged a number at one step and text at the next)."""
    if len(tables) <= 1:
        return tables
    try:
        return [pa.concat_tables(tables, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return tables


def _plain(raw: pa.Table) -> dict[str, Any]:
    try:
        rows = raw.to_pylist()
        return rows[0] if rows else {}
    except (pa.ArrowException, ValueError):
        return {"unreadable": True}


def quarantine(path: Path, bad: list[tuple[int, dict[str, Any], str]]) -> None:
    """Append refused rows to a JSONL file beside the spill files, with the reason (text only: model
    output is data, never evaluated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for row, values, error in bad:
            f.write(json.dumps({"row": row, "error": error, "values": values}, default=str) + "\n")


@dataclass
class _Chunk:
    part: str  # its part name in the store, fixed when it is made
    table: pa.Table | None  # None once spilled
    spilled: Path | None = None


@dataclass
class RowBuffer:
    """Normalized rows waiting to be written, at most `max_rows` in memory; the rest in `spill_dir`."""

    spill_dir: Path
    max_rows: int
    session: str
    """Names this run's parts and spill files (kept across a resume, so a resumed run knows its own)."""
    next_seq: int = 0
    chunks: list[_Chunk] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    """Part names written to the store so far (saved with each checkpoint)."""
    dropped_rows: int = 0
    """Rows lost because neither the store nor the spill dir could take them."""

    @property
    def rows_in_memory(self) -> int:
        return sum(c.table.num_rows for c in self.chunks if c.table is not None)

    @property
    def spilled(self) -> list[Path]:
        return [c.spilled for c in self.chunks if c.spilled is not None]

    def add(self, table: pa.Table, faults: FaultLog) -> None:
        if table.num_rows == 0:
            return
        self.chunks.append(_Chunk(f"part-{self.session}-{self.next_seq:06d}", table))
        self.next_seq += 1
        self._spill_over(faults)

    def _spill_over(self, faults: FaultLog) -> None:
        """Past `max_rows` in memory, write the oldest in-memory chunks to side files; if even that
        fails, drop them (memory stays bounded) and count the rows lost."""
        import pyarrow.parquet as pq

        for chunk in self.chunks:
            if self.rows_in_memory <= self.max_rows:
                return
            table = chunk.table
            if table is None:
                continue
            path = self.spill_dir / f"{chunk.part}.parquet"
            try:
                self.spill_dir.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, path)
                chunk.spilled, chunk.table = path, None
            except OSError as e:
                self.dropped_rows += table.num_rows
                faults.record("spill failed, rows dropped", e)
                chunk.table = None
        self.chunks = [c for c in self.chunks if c.table is not None or c.spilled is not None]

    def write(self, append: Callable[[pa.Table, str], Any]) -> int:
        """Write every chunk, oldest first, with `append(table, part_name)`; returns rows written.
        Stops at the first failure (raised), keeping that chunk and the newer ones."""
        import pyarrow.parquet as pq

        rows = 0
        while self.chunks:
            chunk = self.chunks[0]
            table = chunk.table
            if table is None:
                assert chunk.spilled is not None  # a chunk is in memory or spilled, or dropped from the list
                table = pq.read_table(chunk.spilled)
            append(table, chunk.part)
            self.written.append(chunk.part)
            self.chunks.pop(0)
            if chunk.spilled is not None:
                chunk.spilled.unlink(missing_ok=True)
            rows += table.num_rows
        return rows


@dataclass
class Backoff:
    """When the next detector pass may run after `failures` failed ones in a row: `every` steps after
    the last attempt, doubled per failure, at most `every * max_factor` (a pass that fails every step
    used to be retried every step: 51 attempts in 60 steps, 6x the training time)."""

    every: int
    max_factor: int
    failures: int = 0

    def due(self, step: int, last_attempt: int) -> bool:
        return step - last_attempt >= self.every * min(2**self.failures, self.max_factor)
