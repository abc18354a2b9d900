"""Issue 15: the store commits nothing from an input with any bad file, takes one writer at a time
(an OS lock: the second waits, or gets "store is in use by PID ..." and exit 2), and cleans the staging
debris a killed run left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app
from rlaudit.records import RolloutStore
from rlaudit.records import lock as lock_mod

runner = CliRunner()
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _log(path: Path, n: int, tag: str) -> Path:
    rows = [
        {"step": i // 8, "prompt": f"{tag}-p{i % 4}", "completion": f"{tag}-{i}", "reward": float(i % 2)}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _snapshot(store: Path) -> dict[str, bytes]:
    """Every file of the store but the lock files, with its bytes."""
    return {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted(store.rglob("*"))
        if p.is_file() and not p.name.startswith(".lock")
    }


def _monitor(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["monitor", *args, "--json"])
    return res.exit_code, res.stderr


@pytest.fixture
def store_with_a_run(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    code, err = _monitor(str(_log(tmp_path / "first.jsonl", 40, "first")), "--store", str(store))
    assert code in (0, 1), err
    return store


def test_a_folder_with_one_bad_file_commits_nothing(tmp_path, store_with_a_run):
    folder = tmp_path / "logs"
    folder.mkdir()
    _log(folder / "a.jsonl", 16, "a")
    (folder / "b.jsonl").write_text('{"step": 0, "prompt": "p"\n')
    before = _snapshot(store_with_a_run)
    code, err = _monitor(str(folder), "--store", str(store_with_a_run))
    assert code == 2 and "b.jsonl" in err
    assert _snapshot(store_with_a_run) == before
    assert RolloutStore(store_with_a_run).count() == 40


@pytest.mark.parametrize("second", ["missing.jsonl", "bad.jsonl"])
def test_a_bad_or_missing_second_path_commits_nothing(tmp_path, store_with_a_run, second):
    good = _log(tmp_path / "good.jsonl", 16, "good")
    (tmp_path / "bad.jsonl").write_text('{"step": "x", "prompt": "p", "completion": "c", "reward": 1}\n')
    before = _snapshot(store_with_a_run)
    code, err = _monitor(str(good), str(tmp_path / second), "--store", str(store_with_a_run))
    assert code == 2 and second in err
    assert _snapshot(store_with_a_run) == before


def test_bad_input_into_a_new_store_creates_no_folder(tmp_path):
    good = _log(tmp_path / "good.jsonl", 16, "good")
    store = tmp_path / "new-store"
    code, _ = _monitor(str(good), str(tmp_path / "missing.jsonl"), "--store", str(store))
    assert code == 2
    assert not store.exists()


def _hold_lock(store: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding `store`'s write lock; returns once it holds it."""
    code = (
        "import sys, time; from pathlib import Path; from rlaudit.records.lock import store_lock\n"
        f"with store_lock(Path({str(store)!r})):\n"
        "    print('held', flush=True); time.sleep(float(sys.argv[1]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(seconds)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_gets_in_use_by_pid_and_changes_nothing(tmp_path, store_with_a_run, monkeypatch):
    monkeypatch.setattr(lock_mod, "LOCK_TIMEOUT_S", 0.5)
    holder = _hold_lock(store_with_a_run, 60)
    try:
        before = _snapshot(store_with_a_run)
        code, err = _monitor(str(_log(tmp_path / "late.jsonl", 16, "late")), "--store", str(store_with_a_run))
        assert code == 2
        assert err.strip().splitlines() == [
            f"rlaudit: error: store {store_with_a_run} is in use by PID {holder.pid} (another rlaudit "
            "writing to it); wait for it to finish or use another --store"
        ]
        assert _snapshot(store_with_a_run) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_second_writer_waits_for_the_first(tmp_path, store_with_a_run, monkeypatch):
    monkeypatch.setattr(lock_mod, "LOCK_TIMEOUT_S", 30)
    holder = _hold_lock(store_with_a_run, 3)
    start = time.monotonic()
    code, err = _monitor(str(_log(tmp_path / "late.jsonl", 16, "late")), "--store", str(store_with_a_run))
    holder.wait()
    assert code in (0, 1), err
    assert time.monotonic() - start >= 2.5  # it waited for the holder
    assert RolloutStore(store_with_a_run).count() == 56


def test_racing_writers_lose_and_duplicate_nothing(tmp_path):
    """Three real `rlaudit monitor` processes on one store, then all three again: every row once."""
    store = tmp_path / "store"
    logs = [_log(tmp_path / f"run{i}.jsonl", 200 + 8 * i, f"run{i}") for i in range(3)]
    for _ in range(2):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "rlaudit", "monitor", str(log), "--json", "--store", str(store)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV,
            )
            for log in logs
        ]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode in (0, 1), err
            json.loads(out)
    opened = RolloutStore(store)
    assert opened.count() == 200 + 208 + 216
    assert sorted(s.rows for s in opened.sources()) == [200, 208, 216]
    con = opened.connect()
    dupes = con.execute(
        "SELECT count(*) FROM (SELECT source, row FROM rollouts GROUP BY ALL HAVING count(*) > 1)"
    )
    assert dupes.fetchone() == (0,)


def test_staging_debris_is_cleaned_on_the_next_open(tmp_path, store_with_a_run):
    staging = store_with_a_run / ".staging"
    (staging / "0123456789abcdef").mkdir()
    (staging / "0123456789abcdef" / "part-00000.parquet").write_bytes(b"half a file")
    old, fresh = staging / "old.parquet", staging / "fresh.parquet"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))
    RolloutStore(store_with_a_run)
    # A killed ingest's batch and an old file go; a file written just now may be the live callback's.
    assert sorted(p.name for p in staging.iterdir()) == ["fresh.parquet"]
    assert RolloutStore(store_with_a_run).count() == 40


def test_staging_is_left_alone_while_a_writer_holds_the_store(tmp_path, store_with_a_run):
    batch = store_with_a_run / ".staging" / "0123456789abcdef"
    batch.mkdir()
    holder = _hold_lock(store_with_a_run, 60)
    try:
        RolloutStore(store_with_a_run)
        assert batch.exists()
    finally:
        holder.kill()
        holder.wait()
    RolloutStore(store_with_a_run)
    assert not batch.exists()


def test_a_store_path_that_is_a_file_or_unwritable_is_bad_input(tmp_path):
    good = _log(tmp_path / "good.jsonl", 16, "good")
    (tmp_path / "afile").write_text("x")
    code, err = _monitor(str(good), "--store", str(tmp_path / "afile"))
    assert code == 2 and "not a directory" in err
    code, err = _monitor(str(good), "--store", str(tmp_path / "afile" / "sub"))
    assert code == 2 and "cannot create or open" in err
