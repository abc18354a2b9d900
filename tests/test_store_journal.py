"""Issue 15: an ingest's data and its ledger entries commit together (`rlaudit.records.journal`).

`rlaudit monitor --store` is SIGKILLed at each step of the publish (a subprocess kills itself there, so
no `finally` runs, as with a real kill -9), then the store is opened and the same ingest re-run: the
store always opens, claims exactly the rows it holds, and ends with every rollout exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rlaudit.cli import app
from rlaudit.records import RolloutStore, journal

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}

# Runs `rlaudit monitor ...` in this process, after arranging for it to SIGKILL itself at one point of
# the publish: just before the named function of the store runs for the `nth` time.
KILLER = """
import os, signal, sys
from rlaudit.records import journal, store
point, nth, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
owner, name = {
    "journal": (journal, "begin"),
    "move": (journal.os, "replace"),
    "ledger": (store.RolloutStore, "_write_sources"),
    "end": (journal, "end"),
}[point]
real, calls = getattr(owner, name), [0]
def killed_here(*a, **k):
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
setattr(owner, name, killed_here)
from rlaudit.cli import app
app(["monitor", *args], prog_name="rlaudit")
"""


def _jsonl(path: Path, n: int, tag: str) -> Path:
    rows = [
        {"step": i // 8, "prompt": f"{tag}-p{i % 4}", "completion": f"{tag}-{i}", "reward": float(i % 2)}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _trl_folder(out: Path, steps: int, per_step: int) -> Path:
    """Completions files as `GRPOTrainer.log` writes them (a pandas DataFrame's `to_parquet`)."""
    folder = out / "completions"
    folder.mkdir(parents=True)
    for step in range(1, steps + 1):
        rows = {
            "step": [step] * per_step,
            "prompt": [f"q{i % 2}" for i in range(per_step)],
            "completion": [f"{step}-{i}" for i in range(per_step)],
            "accuracy_reward": [float(i % 2) for i in range(per_step)],
        }
        pd.DataFrame(rows).to_parquet(folder / f"completions_{step:05d}.parquet")
    return out


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[list[str], int]:
    """Two JSONL logs and a TRL output folder (several files), ingested by one command: several moves
    in one publish."""
    paths = [
        _jsonl(tmp_path / "a.jsonl", 48, "a"),
        _jsonl(tmp_path / "b.jsonl", 32, "b"),
        _trl_folder(tmp_path / "trl-run", steps=3, per_step=8),
    ]
    return [str(p) for p in paths], 48 + 32 + 3 * 8


def assert_consistent(store_path: Path) -> int:
    """The store opens, every rollout is there once, and the ledger claims exactly the rows held."""
    store = RolloutStore(store_path)
    con = store.connect()
    try:
        rows, distinct = con.execute(
            'SELECT count(*), count(DISTINCT (source, "row")) FROM rollouts'
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    assert rows == distinct, "a rollout is stored twice"
    assert rows == sum(s.rows for s in store.sources()), "the ledger and the data disagree"
    assert not journal.journal_path(store_path).exists()
    assert not any(store_path.glob("*.tmp"))
    return int(rows)


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("journal", 1),  # nothing published yet: only staging debris
        # `os.replace` calls: the journal's own write, then one per move (three here), then the ledger's.
        ("move", 2),  # the journal written, no rename made
        ("move", 3),  # one of three renames made
        ("ledger", 1),  # every rename made, the ledger not written: the window of issue 15
        ("end", 1),  # the ledger written, the journal not yet removed
    ],
)
def test_a_kill_at_each_step_of_the_publish_loses_and_duplicates_nothing(tmp_path, inputs, point, nth):
    paths, total = inputs
    store = tmp_path / "store"
    args = [*paths, "--store", str(store), "--json"]
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, point, str(nth), *args], capture_output=True, text=True, env=ENV
    )
    assert killed.returncode == -9, killed.stderr
    before_open = journal.journal_path(store).exists()
    assert before_open == (point != "journal")  # the kill landed inside the publish

    # Opening the store finishes the publish: all of it, since the journal was written whole.
    assert assert_consistent(store) == (0 if point == "journal" else total)
    assert not any((store / ".staging").iterdir())

    rerun = CliRunner().invoke(app, ["monitor", *args])
    assert rerun.exit_code in (0, 1), rerun.stderr
    assert json.loads(rerun.stdout)["provenance"]["store"]["rows"] == total
    assert assert_consistent(store) == total


def test_the_next_writer_recovers_a_publish_killed_after_the_store_was_opened(tmp_path, inputs):
    """A store opened before the kill (a long-lived reader or writer) recovers when it next writes."""
    paths, _ = inputs
    store_path = tmp_path / "store"
    opened = RolloutStore(store_path)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, "ledger", "1", *paths[:2], "--store", str(store_path), "--json"],
        env=ENV,
        capture_output=True,
    )
    assert killed.returncode == -9
    assert journal.journal_path(store_path).exists()
    with opened.writing():
        pass  # taking the lock is enough
    assert not journal.journal_path(store_path).exists()
    assert opened.count() == 48 + 32 == sum(s.rows for s in opened.sources())


def test_an_unreadable_journal_is_an_error_naming_it(tmp_path):
    store = tmp_path / "store"
    RolloutStore(store)
    journal.journal_path(store).write_text("{not json")
    with pytest.raises(ValueError, match=r"commit\.json: unreadable commit journal"):
        RolloutStore(store)


# -- kill -9 at random points --------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_inputs(tmp_path_factory: pytest.TempPathFactory, tiny_model_builder) -> tuple[list[str], int]:
    """A TRL output folder written by a real `GRPOTrainer` run (log_completions: one file per step) and
    two JSONL logs big enough that an ingest takes a while to kill."""
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from rlaudit.tasks.arith import arith_reward, make_dataset

    root = tmp_path_factory.mktemp("kill-inputs")
    steps, per_step = 4, 8
    args = GRPOConfig(
        output_dir=str(root / "trl-run"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=0,
        max_steps=steps,
        per_device_train_batch_size=per_step,
        num_generations=4,
        max_completion_length=3,
        activation_checkpointing=False,
        logging_steps=1,
        log_completions=True,
        num_completions_to_print=0,
        save_strategy="no",
        disable_tqdm=True,
    )
    model, tokenizer = tiny_model_builder()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[arith_reward],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(64, seed=0)),
        processing_class=tokenizer,
    )
    trainer.train()
    assert len(list((root / "trl-run" / "completions").glob("*.parquet"))) == steps
    paths = [_jsonl(root / "a.jsonl", 12_000, "a"), _jsonl(root / "b.jsonl", 8_000, "b"), root / "trl-run"]
    return [str(p) for p in paths], 12_000 + 8_000 + steps * per_step


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "rlaudit", "monitor", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )


def _wait_for_lock(store: Path, proc: subprocess.Popen[bytes]) -> float:
    """Block until `proc` holds the store's write lock (its PID file appears); the time it did."""
    import time

    while not (store / ".lock.pid").exists():
        if proc.poll() is not None:
            raise AssertionError(f"the ingest ended ({proc.returncode}) before taking the lock")
        time.sleep(0.002)
    return time.monotonic()


@pytest.mark.slow
def test_kill_9_at_random_points_of_an_ingest_then_rerun(tmp_path, real_inputs):
    """At least 20 SIGKILLs at random points while `monitor --store` holds the lock (reading,
    normalizing, staging, publishing), one or two per trial, each trial then re-run to the end."""
    import random
    import time

    paths, total = real_inputs
    rng = random.Random(0)

    # How long a whole ingest holds the lock, here and now (the machine's load changes it).
    probe = tmp_path / "probe"
    proc = _start([*paths, "--store", str(probe), "--json"])
    start = _wait_for_lock(probe, proc)
    while (probe / ".lock.pid").exists() and proc.poll() is None:
        time.sleep(0.002)
    held = time.monotonic() - start
    assert proc.wait() in (0, 1)
    assert assert_consistent(probe) == total

    landed, trial = 0, 0
    while landed < 20:
        trial += 1
        assert trial <= 60, f"only {landed} kills landed in 60 trials"
        store = tmp_path / f"store-{trial}"
        args = [*paths, "--store", str(store), "--json"]
        for _ in range(rng.choice((1, 2))):
            proc = _start(args)
            _wait_for_lock(store, proc)
            time.sleep(rng.uniform(0, 1.1 * held))
            if proc.poll() is None:
                proc.kill()
                landed += 1
            proc.wait()
            assert_consistent(store)  # opens, recovers, and claims exactly what it holds
        rerun = CliRunner().invoke(app, ["monitor", *args])
        assert rerun.exit_code in (0, 1), rerun.stderr
        assert assert_consistent(store) == total
        assert not any((store / ".staging").iterdir())
    print(f"{landed} kills landed in {trial} trials; an ingest held the lock {held:.1f} s")  # for -s
