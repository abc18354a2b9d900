"""Pooled activations of prompts (and completions) by teacher-forced forward passes: no generation.

`activations(model, tokenizer, prompts, completions, layers=..., pooling=...)` feeds each prompt as
`rlaudit.models.sampling.sample` would (through the chat template when the tokenizer has one, else the
raw text with the tokenizer's own special tokens), followed by its completion's tokens when given, in
batches, and returns each layer's pooled vectors (`rlaudit.interp.capture`). Rows are padded on the
tokenizer's padding side; positions are counted over real tokens only (`position_ids`), so a padded
row gives the vectors it gives alone. The model is put in eval mode for the passes (dropout off) and
left in the mode it was in; nothing is computed with gradients.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rlaudit.interp.capture import capture
from rlaudit.interp.pooling import check_pooling, position_ids
from rlaudit.models.device import auto_batch_size, batch_size_override, run_with_backoff
from rlaudit.models.sampling import render_prompt

Prompt = str | list[dict[str, str]]


def encode(
    tokenizer: Any,
    prompts: Sequence[Prompt],
    completions: Sequence[str] | None = None,
    *,
    chat: bool | None = None,
) -> tuple[list[list[int]], list[int]]:
    """Token ids of every prompt (+ completion) and each prompt's length in tokens.

    `chat` None renders through the chat template when the tokenizer has one (as `sample` does). The
    completion is its own tokens, no eos added: the text as it was logged."""
    use_chat = bool(getattr(tokenizer, "chat_template", None)) if chat is None else chat
    texts = [render_prompt(tokenizer, p) if use_chat or not isinstance(p, str) else p for p in prompts]
    prompt_ids = tokenizer(texts, add_special_tokens=not use_chat)["input_ids"] if texts else []
    if completions is None:
        return [list(ids) for ids in prompt_ids], [len(ids) for ids in prompt_ids]
    if len(completions) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    done = tokenizer(list(completions), add_special_tokens=False)["input_ids"] if completions else []
    return [list(p) + list(c) for p, c in zip(prompt_ids, done, strict=True)], [len(p) for p in prompt_ids]


def activations(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    completions: Sequence[str] | None = None,
    *,
    layers: Sequence[str | int] | str = ("0.5",),
    pooling: str = "last_prompt",
    batch_size: int | None = None,
    chat: bool | None = None,
    padding_side: str | None = None,
) -> dict[str, np.ndarray]:
    """Layer spec -> ``(len(prompts), hidden)`` float32 pooled activations, in prompt order.

    `pooling` ``completion_mean`` needs `completions` with at least one token each. The batch is an
    enclosing `generation_batch_size` block's (the CLI's ``--batch-size``), else `batch_size`, else
    `auto_batch_size`; a batch that runs out of memory is halved and retried. `padding_side` defaults
    to the tokenizer's.
    """
    check_pooling(pooling)
    if pooling == "completion_mean" and completions is None:
        raise ValueError("pooling 'completion_mean' needs completions; use last_prompt without them")
    ids, prompt_lengths = encode(tokenizer, prompts, completions, chat=chat)
    side = padding_side or getattr(tokenizer, "padding_side", "right")
    if side not in ("left", "right"):
        raise ValueError(f"padding_side must be left or right (got {side!r})")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    size = batch_size_override() or batch_size
    if size is None:
        longest = max((len(x) for x in ids), default=1)
        size = auto_batch_size(model, max_new_tokens=1, prompt_tokens=longest)
    extra = _logits_kwargs(model)

    was_training = model.training
    model.eval()
    try:
        with capture(model, layers, pooling) as cap:

            def forward(start: int, stop: int) -> list[dict[str, np.ndarray]]:
                rows = ids[start:stop]
                width = max(len(r) for r in rows)
                input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for i, r in enumerate(rows):
                    span = slice(width - len(r), width) if side == "left" else slice(0, len(r))
                    input_ids[i, span] = torch.tensor(r, dtype=torch.long)
                    mask[i, span] = 1
                try:
                    cap.expect(mask, prompt_lengths[start:stop])
                    with torch.no_grad():
                        model(
                            input_ids=input_ids.to(device),
                            attention_mask=mask.to(device),
                            position_ids=position_ids(mask).to(device),
                            use_cache=False,
                            **extra,
                        )
                    got = cap.take()
                except BaseException:
                    cap.discard()
                    raise
                return [{spec: v[i] for spec, v in got.items()} for i in range(len(rows))]

            per_row = run_with_backoff(forward, len(ids), size)
            specs = list(cap.modules)
    finally:
        model.train(was_training)
    if not per_row:
        return {spec: np.zeros((0, 0), np.float32) for spec in specs}
    return {spec: np.stack([row[spec] for row in per_row]).astype(np.float32) for spec in specs}


def _logits_kwargs(model: Any) -> dict[str, Any]:
    """Ask for the last position's logits only where the model can (transformers' ``logits_to_keep``):
    the activations need none, and a large vocabulary's logits over every position cost memory."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    return {"logits_to_keep": 1} if "logits_to_keep" in params else {}
