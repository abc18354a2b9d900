"""The short CPU GRPO settings the callback tests share: a real TRL run of the tiny model in seconds
(3-token completions, a learning rate that moves it, a log line every step, no checkpoints unless a
test asks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from trl import GRPOConfig


def grpo_args(
    output_dir: Path | str, *, steps: int, batch: int, generations: int, **overrides: Any
) -> GRPOConfig:
    settings: dict[str, Any] = {
        "output_dir": str(output_dir),
        "use_cpu": True,
        "bf16": False,
        "report_to": "none",
        "seed": 0,
        "max_steps": steps,
        "per_device_train_batch_size": batch,
        "num_generations": generations,
        "max_completion_length": 3,
        "learning_rate": 1e-3,
        "activation_checkpointing": False,
        "logging_steps": 1,
        "save_strategy": "no",
        "disable_tqdm": True,
    }
    return GRPOConfig(**{**settings, **overrides})


class WaitForMonitor(TrainerCallback):
    """Each step first waits for the monitor's background worker to be idle: a tiny step made longer
    than a pass, as a real model's is, so that which step a pass's findings land at is fixed."""

    def __init__(self, monitor: Any):
        self.monitor = monitor

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        assert self.monitor.worker.wait_idle(60)
