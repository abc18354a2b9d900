"""Issue 15: the monitor's state travels with the trainer's checkpoints, so a run interrupted after a
checkpoint and resumed from it stores every rollout exactly once (real TRL GRPO, tiny model, CPU)."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("trl")

from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from rlaudit.tasks.arith import arith_reward, make_dataset
from rlaudit.training import MonitorCallback
from rlaudit.training.checkpoint_state import STATE_DIR, STATE_FILE

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
    args = GRPOConfig(
        output_dir=str(out),
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=0,
        max_steps=STEPS,
        per_device_train_batch_size=BATCH,
        num_generations=GENERATIONS,
        max_completion_length=3,
        learning_rate=1e-3,
        activation_checkpointing=False,
        logging_steps=1,
        save_strategy="steps",
        save_steps=SAVE_EVERY,
        disable_tqdm=True,
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
    first = MonitorCallback(trainer, store=store, every_steps=1, max_overhead=math.inf)
    trainer.add_callback(first)
    trainer.add_callback(PreemptAt(KILLED_AT))
    with pytest.raises(Preempted):
        trainer.train()
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
