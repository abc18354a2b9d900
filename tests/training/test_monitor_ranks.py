"""Several processes (accelerate, torchrun): only the main process records and judges; on the others
the callback does nothing at all (no reward wrapping, no store, no metrics). The non-main process is
the trainer's own accelerator told it is not the main one: a real multi-process launch is not tested."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("trl")

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from rlaudit.tasks.arith import arith_reward, make_dataset
from rlaudit.training import MonitorCallback

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def test_a_non_main_process_does_nothing(tmp_path, tiny_model_builder, monkeypatch):
    model, tokenizer = tiny_model_builder()
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=3,
        activation_checkpointing=False,
        logging_steps=1,
        save_strategy="steps",
        save_steps=1,
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[arith_reward],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(16, seed=0)),
        processing_class=tokenizer,
    )
    original = trainer._calculate_rewards
    monkeypatch.setattr(type(trainer.accelerator), "is_main_process", property(lambda self: False))
    monitor = MonitorCallback(trainer, store=tmp_path / "store", every_steps=1, max_overhead=math.inf)
    trainer.add_callback(monitor)
    trainer.train()
    assert not monitor.active and trainer._calculate_rewards == original
    assert monitor.store.count() == 0 and monitor.errors == 0 and monitor.result is None
    assert not any(k.startswith("rlaudit/") for h in trainer.state.log_history for k in h)
    assert not list((tmp_path / "out").glob("checkpoint-*/rlaudit"))
