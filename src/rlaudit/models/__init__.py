"""Models: the embedded tiny model built in code (and, later, loading any local HF causal LM)."""

from rlaudit.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model, pretrain_tiny

__all__ = ["TinyModelConfig", "build_char_tokenizer", "build_tiny_model", "pretrain_tiny"]
