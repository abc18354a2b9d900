"""Models: the embedded tiny model built in code, the embedded SmolLM2-135M-Instruct, any local HF causal
LM (`load_model`), and batched sampling with per-completion entropy and logprob (`sample`)."""

from rlaudit.models.loading import load_model
from rlaudit.models.sampling import Sample, sample
from rlaudit.models.smollm2 import smollm2_checkpoint, user_cache_dir
from rlaudit.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model, pretrain_tiny
from rlaudit.models.tiny_base import TinyBaseConfig, load_tiny

__all__ = [
    "Sample",
    "TinyBaseConfig",
    "TinyModelConfig",
    "build_char_tokenizer",
    "build_tiny_model",
    "load_model",
    "load_tiny",
    "pretrain_tiny",
    "sample",
    "smollm2_checkpoint",
    "user_cache_dir",
]
