"""RL training with rlaudit inside: the live monitor callback (and, later, elicitation runs and mitigations)."""

from rlaudit.training.monitor_callback import MonitorCallback, MonitorCallbackConfig

__all__ = ["MonitorCallback", "MonitorCallbackConfig"]
