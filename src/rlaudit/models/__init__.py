"""Models: the tiny char-level Llama built in code, the embedded SmolLM2-135M-Instruct, any local HF causal
LM (`load_model`), batched sampling with per-completion entropy and logprob (`sample`), the one SFT loop
(`finetune`) and torch thread counts (`threads`).

Models know nothing of tasks, evaluation or anything above them (a test enforces it): the tiny *base*,
trained on the tasks, is `rlaudit.organisms.bases`, and `rlaudit.organisms.load_model` adds ``"tiny"``
to the names `load_model` takes."""

from rlaudit.models.loading import load_model
from rlaudit.models.sampling import Sample, sample
from rlaudit.models.smollm2 import smollm2_checkpoint, user_cache_dir
from rlaudit.models.threads import suggested_threads, torch_threads
from rlaudit.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model, pretrain_tiny

__all__ = [
    "Sample",
    "TinyModelConfig",
    "build_char_tokenizer",
    "build_tiny_model",
    "load_model",
    "pretrain_tiny",
    "sample",
    "smollm2_checkpoint",
    "suggested_threads",
    "torch_threads",
    "user_cache_dir",
]
