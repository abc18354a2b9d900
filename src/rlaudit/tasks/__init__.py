"""Tasks with verifiable rewards: a prompt builder, a reference answer and a checker per task."""

from rlaudit.tasks.arith import ArithConfig, arith_reward, is_correct, make_dataset

__all__ = ["ArithConfig", "arith_reward", "is_correct", "make_dataset"]
