"""`JudgeWorker`: the live monitor's store writes and detector passes, off the training thread.

The training thread only hands work over: `hand(tables, judge_step)` appends an item to a queue and
returns (a few microseconds under a lock that the worker holds only to pop an item). A background
daemon thread takes the items in order; for each it calls `write(tables)` (validate, write to the
store) and, when the item asks for one, `judge(step)` (signals, detectors, verdict). The rows of a
pass are exactly those handed up to its step (they travel with the item), so what a pass sees does
not depend on how far behind the worker is; the caller keeps at most one pass in flight
(`pass_in_flight`), so the worker never falls further behind than one pass.

Why a thread, not a process: the work is DuckDB queries and numpy, which release the GIL, and the
store, buffer and detector state stay in one place. The thread keeps the training thread's scheduling
priority on purpose: a niced worker that the OS leaves waiting while it holds the GIL stalls the
training thread with it (measured: a 2.5 s stall of one hand-over on an overloaded machine).

Bounded: past `max_rows` rows queued (a worker stuck on a hung disk), the oldest queued rows are
written to a spill file and queued as its path: memory stays bounded and no row is dropped unless
even that write fails (then counted as a fault, as `RowBuffer` does). `take_all` lets the training
thread take the queue back, under the worker's write lock, when it must know every row is written
(a checkpoint). Exceptions inside `write` / `judge` are the caller's to make fail-open.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq  # here, not in the worker: an import there holds the GIL for seconds


@dataclass
class WorkItem:
    """Rows to write (in memory, or spilled to `spilled` files), then maybe a pass at `judge_step`."""

    tables: list[pa.Table] = field(default_factory=list)
    spilled: list[Path] = field(default_factory=list)
    judge_step: int | None = None
    submit: bool = True  # whether the pass submits new work to the live transcript judge

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables)

    def load(self) -> list[pa.Table]:
        """Its tables, the spilled ones read back (and their files removed) first: they are older."""
        tables = [pq.read_table(p) for p in self.spilled]
        for p in self.spilled:
            p.unlink(missing_ok=True)
        self.spilled = []
        return tables + self.tables


class JudgeWorker:
    """A daemon thread that writes handed rows and runs passes, in order (module docstring)."""

    def __init__(
        self,
        write: Callable[[list[pa.Table]], None],
        judge: Callable[[WorkItem], None],
        *,
        spill_dir: Path,
        max_rows: int,
        on_error: Callable[[str, BaseException, int], None],
    ):
        self._write, self._judge = write, judge
        self.spill_dir, self.max_rows = spill_dir, max_rows
        self._on_error = on_error
        """Told `(kind, exception, rows lost)` of a fault in the worker itself (the callback counts it)."""
        self._items: deque[WorkItem] = deque()
        self._cond = threading.Condition()
        self.write_lock = threading.Lock()
        """Held while rows are written: whoever holds it knows no write is half done."""
        self._busy = False
        self._passes_queued = 0
        self._thread: threading.Thread | None = None
        self._running = False  # a thread is in its loop (set and cleared under `_cond`)
        self._in_hand: WorkItem | None = None  # taken by the worker, its rows not yet being written
        self._stop = False
        self.busy_seconds = 0.0
        """Wall seconds the worker spent writing and judging (its share of the machine)."""
        self.cpu_seconds = 0.0
        """CPU seconds of the worker thread itself (`time.thread_time`)."""

    # -- the training thread's side --------------------------------------------------------------
    def hand(self, tables: list[pa.Table], judge_step: int | None = None, submit: bool = True) -> None:
        """Queue `tables` for writing, then a pass at `judge_step` (None: write only). Never blocks
        beyond a lock the worker holds for a pop."""
        if not tables and judge_step is None:
            return
        with self._cond:
            self._items.append(WorkItem(list(tables), judge_step=judge_step, submit=submit))
            if judge_step is not None:
                self._passes_queued += 1
            self._stop = False
            start, self._running = not self._running, True
            self._cond.notify()
        if start:  # decided under the lock: a thread on its way out never strands an item
            self._thread = threading.Thread(target=self._loop, name="rlaudit-judge", daemon=True)
            self._thread.start()
        self._bound()

    @property
    def pass_in_flight(self) -> bool:
        """A pass is queued or running (the caller then defers the next one)."""
        with self._cond:
            return self._passes_queued > 0

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until every item handed so far is done (at most `timeout` seconds); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def take_all(self) -> tuple[list[pa.Table], list[WorkItem]]:
        """Take every queued row back (oldest first) with the queued passes (emptied of rows, for the
        caller to hand again). Call holding `write_lock`: no write is then half done, and the rows of an
        item the worker has taken but not begun to write are taken too (it then runs only its pass)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._passes_queued -= sum(1 for i in items if i.judge_step is not None)
            stolen = []
            if self._in_hand is not None:
                held = self._in_hand
                stolen = [WorkItem(held.tables, held.spilled)]
                held.tables, held.spilled = [], []
        tables = [t for item in stolen + items for t in item.load()]
        return tables, [i for i in items if i.judge_step is not None]

    def close(self, timeout: float | None = 0) -> None:
        """Stop the thread once the queue is empty (it is a daemon: it never keeps the process alive)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None and timeout != 0:
            self._thread.join(timeout)

    # -- the worker thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stop:
                    self._cond.wait()
                if not self._items:
                    self._running = False
                    return
                item = self._items.popleft()
                self._busy = True
                self._in_hand = item  # until its write begins, `take_all` may take its rows
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                # Lock order everywhere: `write_lock`, then `_cond` (never the other way round).
                with self.write_lock:
                    with self._cond:
                        self._in_hand = None
                    self._write(item.load())
                if item.judge_step is not None:
                    self._judge(item)
            except Exception as e:  # `write`/`judge` are fail-open already; this keeps the thread alive
                self._on_error(f"worker: {type(e).__name__}", e, 0)
            finally:
                self.busy_seconds += time.perf_counter() - wall
                self.cpu_seconds += time.thread_time() - cpu
                with self._cond:
                    if item.judge_step is not None:
                        self._passes_queued -= 1
                    self._busy = False
                    self._cond.notify_all()

    def _bound(self) -> None:
        """Past `max_rows` queued, spill the oldest queued items' rows to files (module docstring)."""
        with self._cond:
            queued = sum(i.rows for i in self._items)
            if queued <= self.max_rows:
                return
            for item in list(self._items):
                if queued <= self.max_rows:
                    break
                rows = item.rows
                if not rows:
                    continue
                path = self.spill_dir / f"queued-{uuid.uuid4().hex[:12]}.parquet"
                try:
                    self.spill_dir.mkdir(parents=True, exist_ok=True)
                    pq.write_table(pa.concat_tables(item.tables, promote_options="permissive"), path)
                    item.spilled.append(path)
                except (OSError, pa.ArrowException) as e:
                    self._on_error("queue spill failed, rows dropped", e, rows)
                item.tables = []
                queued -= rows
