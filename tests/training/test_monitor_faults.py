"""Issue 15: faults injected into a real TRL GRPO run on the tiny model, with MonitorCallback watching.

Injected, all at once: an unwritable store for the first steps (its staging folder replaced by a file:
the tests run as root, for whom a chmod'ed folder is still writable), a detector that raises at every
pass, unscored (None -> NaN) rewards, and a reward function that returns garbage (an infinite value,
which the store refuses) and logs values of no JSON type. The run must finish, every fault must be
counted by kind, every good rollout must end up stored once, and no pass may be logged `clean`.
A real run judged at every step takes ~40 s on a loaded 2-core machine: both cases are slow tests (the
parts are tested fast, alone, in test_failopen.py).
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from dataclasses import replace

import pytest

pytest.importorskip("trl")

from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOTrainer

from rlaudit.detectors import DETECTORS
from rlaudit.tasks.arith import arith_reward, make_dataset
from rlaudit.training import MonitorCallback
from tests.training.tiny_grpo import WaitForMonitor, grpo_args

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

PROMPTS, GENERATIONS = 2, 4
BATCH = PROMPTS * GENERATIONS
BAD = (0, 2)  # rollouts of each batch given an infinite reward
BROKEN_UNTIL = 2  # the store cannot be written during steps 1..2


def nan_then_arith(completions, answer, **kwargs):
    """arith_reward, but the second rollout of each batch unscored (None: TRL makes it NaN)."""
    rewards = arith_reward(completions, answer, **kwargs)
    return [None if i == 1 else r for i, r in enumerate(rewards)]


def garbage(completions, log_extra, **kwargs):
    """Weighted 0 (so training is unharmed): infinite values for the first and third rollouts of each
    batch, None for the second, and a logged column of Python objects."""
    log_extra("garbage_note", [object() for _ in completions])
    return [math.inf if i in BAD else None if i == 1 else 0.0 for i in range(len(completions))]


class BreakStore(TrainerCallback):
    """Makes the store unwritable until step `BROKEN_UNTIL`, then repairs it."""

    def __init__(self, store):
        self.staging = store / ".staging"

    def on_train_begin(self, args, state, control, **kwargs):
        shutil.rmtree(self.staging)
        self.staging.write_text("not a folder")

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == BROKEN_UNTIL and self.staging.is_file():
            self.staging.unlink()
            self.staging.mkdir()


def _run(tmp_path, model, tokenizer, steps, monkeypatch):
    def boom(signals, cfg):
        raise RuntimeError("planted detector bug")

    monkeypatch.setitem(
        DETECTORS, "exploration_starvation", replace(DETECTORS["exploration_starvation"], detect=boom)
    )
    args = grpo_args(
        tmp_path / "out", steps=steps, batch=BATCH, generations=GENERATIONS, reward_weights=[1.0, 0.0]
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[nan_then_arith, garbage],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(64, seed=0)),
        processing_class=tokenizer,
    )
    store = tmp_path / "store"
    monitor = MonitorCallback(trainer, store=store, every_steps=1, max_overhead=math.inf)
    trainer.add_callback(monitor)
    trainer.add_callback(WaitForMonitor(monitor))  # the store breaks and heals at fixed passes
    trainer.add_callback(BreakStore(store))
    trainer.train()
    return trainer, monitor


@pytest.mark.slow
@pytest.mark.parametrize("steps", [pytest.param(6, id="6-steps"), pytest.param(40, id="40-steps")])
def test_faults_in_a_real_grpo_run_are_counted_and_nothing_good_is_lost(
    tmp_path, tiny_model_builder, monkeypatch, steps
):
    trainer, monitor = _run(tmp_path, *tiny_model_builder(), steps, monkeypatch)
    assert trainer.state.global_step == steps  # the run finished

    counts = monitor.faults.counts
    # One row refused per batch (the infinite reward), quarantined with the reason; the rest stored.
    assert counts["rows quarantined (bad values)"] == len(BAD) * steps
    quarantined = [
        json.loads(line)
        for line in (tmp_path / "out" / "rlaudit-spill" / f"quarantine-{monitor.buffer.session}.jsonl")
        .read_text()
        .splitlines()
    ]
    assert len(quarantined) == len(BAD) * steps and all("infinite" in q["error"] for q in quarantined)
    assert monitor.store.count() == steps * (BATCH - len(BAD))
    con = monitor.store.connect()
    per_step = dict(con.execute("SELECT step, count(*) FROM rollouts GROUP BY step").fetchall())
    assert per_step == {s: BATCH - len(BAD) for s in range(1, steps + 1)}  # the broken steps' rows came later
    (unscored,) = con.execute("SELECT count(*) FROM rollouts WHERE reward IS NULL").fetchone()
    assert unscored == steps  # NaN rewards are stored as unscored, not dropped

    # The store failures were counted (each flush that failed), and the passes that had nothing to
    # judge yet; the detector bug at every pass that ran.
    assert counts["_flush: NotADirectoryError"] >= 1
    judged = [h for h in trainer.state.log_history if "rlaudit/verdict" in h]
    assert counts["_judge: RecordError"] >= 1  # nothing stored yet to judge
    assert counts["detector exploration_starvation failed"] >= len(judged) >= 1
    assert monitor.failed_detectors == ["exploration_starvation"]
    assert monitor.errors == sum(counts.values())
    # No pass with a failed detector is logged clean (0): NaN (which the trainer's log keeps as None),
    # or what it found worse.
    verdicts = [h["rlaudit/verdict"] for h in judged]
    assert all(v is None or math.isnan(v) or v >= 1 for v in verdicts), verdicts
    # The fault counter reached the tracker at every step, not only at passes.
    errors = [h["rlaudit/errors"] for h in trainer.state.log_history if "rlaudit/errors" in h]
    assert len(errors) == steps and errors == sorted(errors) and errors[-1] > 0
    print(f"{steps} steps: {monitor.errors} faults counted: {dict(Counter(counts))}")  # for -s
