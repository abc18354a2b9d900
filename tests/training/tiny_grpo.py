"""The short CPU GRPO settings the callback tests share: a real TRL run of the tiny model in seconds
(3-token completions, a learning rate that moves it, a log line every step, no checkpoints unless a
test asks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
