"""A judge run in-process: a Hugging Face causal LM loaded by rlaudit's own model loading, for machines
with no server. ``smollm2``, ``tiny`` (the tiny base, `rlaudit.organisms.load_model`) or a local
checkpoint / adapter directory (`rlaudit.organisms.load_model`). Replies are decoded greedily (the same
prompt gets the same reply: the cache stays honest), a batch of prompts per generate call
(`rlaudit.models.sampling.sample`). The model's chat template renders the rubric's messages; a model
without one (the tiny base) reads them as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlaudit.judges.backend import Messages, Reply


@dataclass
class HFJudgeConfig:
    """Which model, and how it generates; the defaults work on a CPU."""

    model: str
    """``smollm2``, ``tiny`` or a local checkpoint directory."""
    device: str = "auto"
    max_new_tokens: int = 64
    """Reply budget in tokens: a score tag and a short sentence."""
    batch_size: int | None = None
    """Prompts per generate call (None: from the model size and free memory)."""


class HFJudge:
    """`JudgeBackend` over an in-process model (see the module docstring)."""

    def __init__(self, config: HFJudgeConfig, *, model: Any = None, tokenizer: Any = None) -> None:
        self.config = config
        self.model = config.model
        if model is None:
            model, tokenizer = _load(config)
        self._lm, self._tokenizer = model, tokenizer

    def complete(self, requests: list[Messages]) -> list[Reply]:
        from rlaudit.models.sampling import sample

        if not requests:
            return []
        chat = getattr(self._tokenizer, "chat_template", None) is not None
        prompts: list[Any] = list(requests) if chat else [_plain(m) for m in requests]
        try:
            out = sample(
                self._lm,
                self._tokenizer,
                prompts,
                temperature=0.0,
                max_new_tokens=self.config.max_new_tokens,
                batch_size=self.config.batch_size,
                chat=chat,
                stats=False,
            )
        except Exception as e:  # an in-process judge that fails leaves every rollout unscored, not a crash
            return [Reply(None, f"{type(e).__name__}: {e}")] * len(requests)
        return [Reply(s.completion) for s in out]


def _plain(messages: Messages) -> str:
    return "\n\n".join(m["content"] for m in messages) + "\n"


def _load(config: HFJudgeConfig) -> tuple[Any, Any]:
    from rlaudit.organisms import load_model  # the models' loader, plus the name ``tiny``

    return load_model(config.model, device=config.device)
