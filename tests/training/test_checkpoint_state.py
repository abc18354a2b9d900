"""Issue 15: the monitor's state travels with the trainer's checkpoints, so a run interrupted after a
checkpoint and resumed from it stores every rollout exactly once (real TRL GRPO, tiny model, CPU)."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("trl")

from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOTrainer

from rlaudit.tasks.arith import arith_reward, make_dataset
from rlaudit.training import MonitorCallback
from rlaudit.training.checkpoint_state import STATE_DIR, STATE_FILE, last_checkpoint
from tests.training.tiny_grpo import grpo_args

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

PROMPTS, GENERATIONS = 2, 4
BATCH = PROMPTS * GENERATIONS
STEPS, SAVE_EVERY, KILLED_AT = 5, 2, 3


class Preempted(Exception):
    pass


class PreemptAt(TrainerCallback):
    """The job dies at the end of step `step`, after the monitor has written that step's rows."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Preempted


def _trainer(out, model, tokenizer):
    args = grpo_args(
        out, steps=STEPS, batch=BATCH, generations=GENERATIONS, save_strategy="steps", save_steps=SAVE_EVERY
    )
    return GRPOTrainer(
        model=model,
        reward_funcs=[arith_reward],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(64, seed=0)),
        processing_class=tokenizer,
    )


def _per_step(monitor: MonitorCallback) -> dict[int, int]:
    con = monitor.store.connect()
    return dict(con.execute("SELECT step, count(*) FROM rollouts GROUP BY step ORDER BY step").fetchall())


@pytest.mark.slow
def test_interrupt_and_resume_stores_every_rollout_once(tmp_path, tiny_model_builder):
    out, store = tmp_path / "out", tmp_path / "store"
    trainer = _trainer(out, *tiny_model_builder())
    # queue_passes: each step's rows are handed to the background writer at its end, even while the
    # previous pass still runs (deferred, step 3's would still be in the training process when it dies).
    first = MonitorCallback(trainer, store=store, every_steps=1, max_overhead=math.inf, queue_passes=True)
    trainer.add_callback(first)
    trainer.add_callback(PreemptAt(KILLED_AT))
    with pytest.raises(Preempted):
        trainer.train()
    assert first.worker.wait_idle(60)  # the background writer finishes what it was handed
    # Rows of step 3 reached the store; the last checkpoint is step 2, with the monitor's state in it.
    assert _per_step(first) == {1: BATCH, 2: BATCH, 3: BATCH}
    saved = json.loads((out / "checkpoint-2" / STATE_DIR / STATE_FILE).read_text())
    assert saved["session"] == first.buffer.session and saved["rows"] == 2 * BATCH

    trainer = _trainer(out, *tiny_model_builder())  # a new process: new model object, new callback
    resumed = MonitorCallback(trainer, store=store, every_steps=1, max_overhead=math.inf)
    trainer.add_callback(resumed)
    trainer.train(resume_from_checkpoint=str(out / "checkpoint-2"))

    assert trainer.state.global_step == STEPS
    assert resumed.buffer.session == first.buffer.session
    assert _per_step(resumed) == dict.fromkeys(range(1, STEPS + 1), BATCH)  # every step once
    assert resumed.store.count() == STEPS * BATCH
    # Step 3 of the interrupted attempt is set aside, not deleted, and out of every query.
    aside = list((store / "superseded").rglob("*.parquet"))
    assert len(aside) == 1
    rows = [
        r for (r,) in resumed.store.connect().execute('SELECT "row" FROM rollouts ORDER BY "row"').fetchall()
    ]
    assert rows == list(range(1, STEPS * BATCH + 1))  # row numbers continue where the checkpoint was
    assert resumed.errors == 0 and resumed.result is not None


@pytest.mark.slow
def test_resuming_from_a_checkpoint_without_monitor_state_is_a_counted_fault(tmp_path, tiny_model_builder):
    out = tmp_path / "out"
    trainer = _trainer(out, *tiny_model_builder())
    trainer.add_callback(PreemptAt(KILLED_AT))
    with pytest.raises(Preempted):
        trainer.train()  # no monitor in the first attempt
    trainer = _trainer(out, *tiny_model_builder())
    monitor = MonitorCallback(trainer, store=tmp_path / "store", every_steps=10, max_overhead=math.inf)
    trainer.add_callback(monitor)
    trainer.train(resume_from_checkpoint=str(out / "checkpoint-2"))
    assert trainer.state.global_step == STEPS
    assert any(k.startswith("resume: no monitor state in checkpoint-2") for k in monitor.faults.counts)
    assert _per_step(monitor) == {s: BATCH for s in range(3, STEPS + 1)}


# -- kill -9 during a live run, then resume from the last checkpoint ---------------------------------

MODEL = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "seed": 0}
"""The tests' tiny model (tests/conftest.py), built again inside the training subprocess."""
TRAIN = """
import json, math, sys
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer
from rlaudit.models.tiny import TinyModelConfig, build_tiny_model
from rlaudit.tasks.arith import arith_reward, make_dataset
from rlaudit.training import MonitorCallback
from rlaudit.training.checkpoint_state import last_checkpoint
out, store, steps, model_config = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
model, tokenizer = build_tiny_model(TinyModelConfig(**model_config))
args = GRPOConfig(output_dir=out, use_cpu=True, bf16=False, report_to="none", seed=0, max_steps=steps,
    per_device_train_batch_size=8, num_generations=4, max_completion_length=3, learning_rate=1e-3,
    activation_checkpointing=False, logging_steps=1, save_strategy="steps", save_steps=1, disable_tqdm=True)
trainer = GRPOTrainer(model=model, reward_funcs=[arith_reward], args=args,
    train_dataset=Dataset.from_list(make_dataset(64, seed=0)), processing_class=tokenizer)
trainer.add_callback(MonitorCallback(trainer, store=store, every_steps=1, max_overhead=math.inf))
trainer.train(resume_from_checkpoint=last_checkpoint(out))
"""


KILLS = 20


@pytest.mark.slow
def test_kill_9_during_a_live_run_then_resume_stores_every_rollout_once(tmp_path):
    """SIGKILL at random points of real GRPO runs (a checkpoint every step), each followed by a resume
    from the last whole checkpoint (`last_checkpoint`: a kill inside the trainer's own save leaves a
    half-written folder), until the run completes; runs until at least `KILLS` kills have landed (issue
    15 asks for 20): each step's rollouts are stored once in every run."""
    import os
    import random
    import subprocess
    import sys
    import time

    from rlaudit.records import RolloutStore

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    steps, landed, trial = 8, 0, 0
    while landed < KILLS:
        assert trial < 16, f"only {landed} kills landed in 16 runs"
        out, store = tmp_path / f"out-{trial}", tmp_path / f"store-{trial}"
        cmd = [sys.executable, "-c", TRAIN, str(out), str(store), str(steps), json.dumps(MODEL)]
        for _ in range(steps + 1):  # each attempt gets at least one step further
            before = last_checkpoint(out)
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # Kill once the run has made progress (a new checkpoint; before the first one, a resume
            # would restart from scratch), at a random point of the steps after it.
            while proc.poll() is None and last_checkpoint(out) == before:
                time.sleep(0.05)
            # Soon after the checkpoint (a tiny step takes well under a second): a later kill would miss a
            # run that has meanwhile finished.
            time.sleep(rng.uniform(0, 0.4))
            if proc.poll() is None:
                proc.kill()
                landed += 1
            _, err = proc.communicate()
            if proc.returncode == 0:
                break
            assert proc.returncode == -9, err.decode()[-2000:]
            if str(last_checkpoint(out)).endswith(f"-{steps}"):
                break  # killed after its last checkpoint (resuming a finished run trains one step more)
        else:
            raise AssertionError("the run never completed")
        con = RolloutStore(store).connect()
        per_step = dict(con.execute("SELECT step, count(*) FROM rollouts GROUP BY step").fetchall())
        assert per_step == dict.fromkeys(range(1, steps + 1), BATCH), per_step
        trial += 1
    print(f"{landed} kills landed in {trial} runs of {steps} steps")  # for -s
