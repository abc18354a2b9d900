"""rlaudit: catch a language model gaming its own RL post-training (exploration hacking)."""

__version__ = "0.1.0"
