"""The live callback's background writer and judge (`rlaudit.training.judge_worker`), driven without a
trainer: handing work over never waits for the worker, items run in order, a stuck worker's queue
spills to files instead of growing, a checkpoint can take the queue back, and a failing item never
stops the thread."""

from __future__ import annotations

import threading
import time

import pyarrow as pa

from rlaudit.training.judge_worker import JudgeWorker, WorkItem


def _rows(first: int, n: int = 8) -> pa.Table:
    return pa.table({"step": pa.array(list(range(first, first + n)), pa.int64())})  # a range: pandas imported


class Recorder:
    def __init__(self) -> None:
        self.gate = threading.Event()  # writes wait on it
        self.gate.set()
        self.judge_gate = threading.Event()  # passes wait on it
        self.judge_gate.set()
        self.written: list[int] = []
        self.passes: list[int | None] = []
        self.errors: list[tuple[str, int]] = []

    def write(self, tables: list[pa.Table]) -> None:
        self.gate.wait(10)
        for t in tables:
            self.written += t.column("step").to_pylist()

    def judge(self, item: WorkItem) -> None:
        self.judge_gate.wait(10)
        self.passes.append(item.judge_step)

    def worker(self, tmp_path, max_rows: int = 1000) -> JudgeWorker:
        return JudgeWorker(
            self.write,
            self.judge,
            spill_dir=tmp_path / "spill",
            max_rows=max_rows,
            on_error=lambda kind, e, rows: self.errors.append((kind, rows)),
        )


def test_handing_over_never_waits_and_items_run_in_order(tmp_path):
    rec = Recorder()
    rec.gate.clear()  # the worker is stuck in its first write
    worker = rec.worker(tmp_path)
    batches = [_rows(0), _rows(8), _rows(16)]
    start = time.perf_counter()
    worker.hand([batches[0]], judge_step=1)
    worker.hand([batches[1]])
    worker.hand([batches[2]], judge_step=3)
    assert time.perf_counter() - start < 0.5  # a stuck worker costs the training thread nothing
    assert worker.pass_in_flight and not worker.wait_idle(0.05)
    rec.gate.set()
    assert worker.wait_idle(10) and not worker.pass_in_flight
    assert rec.written == list(range(24)) and rec.passes == [1, 3]
    assert worker.cpu_seconds >= 0 and worker.busy_seconds > 0
    worker.close(timeout=5)


def test_a_stuck_workers_queue_spills_to_files_and_loses_nothing(tmp_path):
    rec = Recorder()
    rec.gate.clear()
    worker = rec.worker(tmp_path, max_rows=10)
    worker.hand([_rows(0)])
    time.sleep(0.1)  # the worker has taken the first item and is stuck writing it
    for i in range(1, 5):
        worker.hand([_rows(8 * i)])
    assert len(list((tmp_path / "spill").glob("queued-*.parquet"))) >= 2  # at most 10 rows kept in memory
    rec.gate.set()
    assert worker.wait_idle(10)
    assert rec.written == list(range(40)) and rec.errors == []
    assert not list((tmp_path / "spill").glob("queued-*.parquet"))  # read back, then removed


def test_take_all_gives_the_queue_back_under_the_write_lock(tmp_path):
    rec = Recorder()
    rec.judge_gate.clear()  # the worker is in the pass of the first item (its rows written)
    worker = rec.worker(tmp_path)
    worker.hand([_rows(0)], judge_step=1)
    deadline = time.monotonic() + 10
    while rec.written != list(range(8)) and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.hand([_rows(8)], judge_step=2)
    worker.hand([_rows(16)])
    with worker.write_lock:  # no write in progress; nothing else is written while it is held
        tables, passes = worker.take_all()
    assert [t.column("step")[0].as_py() for t in tables] == [8, 16]
    assert [p.judge_step for p in passes] == [2]
    rec.judge_gate.set()
    assert worker.wait_idle(10) and not worker.pass_in_flight
    assert rec.written == list(range(8)) and rec.passes == [1]


def test_a_failing_item_is_reported_and_the_next_one_still_runs(tmp_path):
    rec = Recorder()
    calls = []

    def write(tables: list[pa.Table]) -> None:
        calls.append(len(tables))
        if len(calls) == 1:
            raise OSError("planted: disk full")

    worker = JudgeWorker(
        write,
        rec.judge,
        spill_dir=tmp_path / "spill",
        max_rows=100,
        on_error=lambda kind, e, rows: rec.errors.append((kind, rows)),
    )
    worker.hand([_rows(0)], judge_step=1)
    worker.hand([_rows(8)], judge_step=2)
    assert worker.wait_idle(10)
    assert rec.errors == [("worker: OSError", 0)] and calls == [1, 1] and rec.passes == [2]
