"""Where a TRL trainer runs: the device and mixed-precision flags that match the model it is given.

TRL (through transformers' `TrainingArguments` and accelerate) picks its own device unless told
``use_cpu``, and trains in float32 unless told ``bf16`` or ``fp16``; a model rlaudit loaded onto a GPU
in bfloat16 must train there, in bfloat16, and one on the CPU must stay on the CPU.
"""

from __future__ import annotations

from typing import Any


def trainer_placement(model: Any) -> dict[str, Any]:
    """``use_cpu``, ``bf16`` and ``fp16`` for a trainer's config, from the model's device and dtype."""
    import torch

    dtype = next(model.parameters()).dtype
    on_cpu = model.device.type == "cpu"
    return {
        "use_cpu": on_cpu,
        "bf16": not on_cpu and dtype == torch.bfloat16,
        "fp16": not on_cpu and dtype == torch.float16,
    }
