"""RL training with rlaudit inside: the live monitor callback, elicitation runs, mitigations, and the
one GRPO runner (`rlaudit.training.grpo`) that organisms and the RL-elicitation audit share."""

from __future__ import annotations

from typing import Any

__all__ = ["MonitorCallback", "MonitorCallbackConfig"]


def __getattr__(name: str) -> Any:
    # Lazily, so that importing rlaudit.training.grpo does not import transformers' trainer stack.
    if name in __all__:
        from rlaudit.training import monitor_callback

        return getattr(monitor_callback, name)
    raise AttributeError(f"module 'rlaudit.training' has no attribute {name!r}")
