"""A judge run in-process: a Hugging Face causal LM loaded by rlaudit's own model loading, for machines
with no server. ``smollm2``, ``tiny`` (the tiny base, `rlaudit.organisms.load_model`) or a local
checkpoint / adapter directory (`rlaudit.organisms.load_model`). Replies are decoded greedily (the same
prompt gets the same reply: the cache stays honest), a batch of prompts per generate call
(`rlaudit.models.sampling.sample`). The model's chat template renders the rubric's messages; a model
without one (the tiny base) reads them as plain text.

`first_token` (the probability scoring mode, `rlaudit.judges.probability`) runs one forward pass per
batch instead of generating: the softmax of the last position's logits, its `top_k` tokens decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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

    def first_token(self, requests: list[Messages], top_k: int) -> list[Reply]:
        """The `top_k` likeliest first reply tokens of each request (see the module docstring)."""
        if not requests:
            return []
        try:
            return self._first_token(requests, top_k)
        except Exception as e:  # as in `complete`: every rollout unscored, no crash
            return [Reply(None, f"{type(e).__name__}: {e}")] * len(requests)

    def _first_token(self, requests: list[Messages], top_k: int) -> list[Reply]:
        import torch

        from rlaudit.models.sampling import render_prompt

        tok = self._tokenizer
        chat = getattr(tok, "chat_template", None) is not None
        texts = [render_prompt(tok, list(m)) if chat else _plain(m) for m in requests]
        # A chat template writes its own special tokens; plain text gets the tokenizer's (tiny: BOS).
        encoded = tok(texts, add_special_tokens=not chat)["input_ids"]
        size = self.config.batch_size or PROBABILITY_BATCH
        out: list[Reply] = []
        with torch.inference_mode():
            for start in range(0, len(encoded), size):
                enc = tok.pad(
                    {"input_ids": encoded[start : start + size]},
                    padding=True,
                    padding_side="left",  # the last position is every row's next token
                    return_tensors="pt",
                ).to(self._lm.device)
                logits = self._lm(**enc).logits[:, -1, :].float()  # (B, V)
                values, ids = torch.log_softmax(logits, dim=-1).topk(top_k, dim=-1)  # (B, k)
                for row_values, row_ids in zip(values.tolist(), ids.tolist(), strict=True):
                    top: dict[str, float] = {}
                    for v, i in zip(row_values, row_ids, strict=True):
                        text = tok.decode([i])
                        top[text] = float(np.logaddexp(top[text], v)) if text in top else v
                    out.append(Reply(None, top=top))
        return out


PROBABILITY_BATCH = 8
"""Prompts per forward pass in `first_token` when the config names none (the rubric's prompts are ~600
tokens: 8 of them fit in a few hundred MB for SmolLM2-135M)."""


def _plain(messages: Messages) -> str:
    return "\n\n".join(m["content"] for m in messages) + "\n"


def _load(config: HFJudgeConfig) -> tuple[Any, Any]:
    from rlaudit.organisms import load_model  # the models' loader, plus the name ``tiny``

    return load_model(config.model, device=config.device)
