"""Forward passes that compute the tokens many sequences share only once.

On a CPU an audit's cost is the prompt tokens it feeds the model, and most of them repeat: a chat
template puts the same system text before every prompt (SmolLM2's is 25 of the 42 tokens of an arith
prompt), pass@k asks each prompt `n` times, and SFT trains on a few demonstrations drawn again and
again. `prefill` runs a batch's common prefix once, at batch size 1, expands its key/value cache to
the batch, and runs only each sequence's own suffix on top; `sample` then feeds each distinct prompt
once and copies its cache to its `n` samples. The result is the forward pass of the whole sequences
(the same attention, the same positions), up to float rounding.

The layout of a prefilled batch: ``[prefix][padding][suffix]`` (generation pads suffixes on the left,
so every sequence ends at the last column) or ``[prefix][suffix][padding]`` (training pads on the
right); the attention mask hides the padding and the position ids skip it, as they would in a batch
padded on the left in the usual way.

Any transformers causal LM whose forward takes ``past_key_values`` and ``position_ids`` can be fed this
way (`supports_prefix`); others go through ``generate`` as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


def supports_prefix(model: Any) -> bool:
    """Whether `model` (or the model a peft wrapper holds) takes a cache and explicit position ids."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False
    return {"past_key_values", "position_ids", "attention_mask"} <= params.keys()


def common_prefix_length(seqs: Sequence[Sequence[int]], *, leave: int = 1) -> int:
    """Length of the longest token prefix all `seqs` share, leaving at least `leave` tokens of each."""
    if not seqs:
        return 0
    limit = min(len(s) for s in seqs) - leave
    first = seqs[0]
    n = 0
    while n < limit and all(s[n] == first[n] for s in seqs):
        n += 1
    return max(n, 0)


@dataclass
class Prefilled:
    """A batch after its prompts went through the model: what decoding or a loss continues from."""

    cache: Any
    """The key/value cache (transformers' ``Cache``) of every column, prefix included; batch = rows."""
    attention_mask: torch.Tensor
    """(B, columns): 1 on real tokens, 0 on padding."""
    next_position: torch.Tensor
    """(B,): the position id of each row's next token (its number of real tokens)."""
    logits: torch.Tensor
    """Generation: (B, V), the logits after each row's last token. Training: (B, W, V) over the suffix block."""
    suffix_labels_offset: int = 0
    """Training: tokens of each row that went into the prefix (its labels start after them)."""

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) the batch rows `rows`, in that order, in every tensor and the cache."""
        self.cache.batch_select_indices(rows)
        self.attention_mask = self.attention_mask[rows]
        self.next_position = self.next_position[rows]
        self.logits = self.logits[rows]


def prefill(
    model: Any, seqs: Sequence[Sequence[int]], *, pad_id: int, all_logits: bool = False, leave: int = 1
) -> Prefilled:
    """Run `seqs` (token ids) through `model`, their common prefix once; see the module docstring.

    With `all_logits` False (generation) suffixes are padded on the left and only the last column's
    logits are kept; with True (training) they are padded on the right and the logits of every suffix
    column come back, with the graph, for a loss. `leave` tokens of each sequence at least stay out of
    the prefix (a loss needs the logits of the last prompt token, which the prefix does not return).
    """
    device = model.device
    # One sequence shares nothing with another: splitting it would only add a forward call.
    shared = common_prefix_length(seqs, leave=leave) if len(seqs) > 1 else 0
    cache = None
    if shared:
        prefix = torch.tensor([list(seqs[0][:shared])], device=device)
        cache = model(input_ids=prefix, use_cache=True).past_key_values
        cache.batch_select_indices(torch.zeros(len(seqs), dtype=torch.long, device=device))
    suffixes = [list(s[shared:]) for s in seqs]
    width = max(len(s) for s in suffixes)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), shared + width), dtype=torch.long)
    mask[:, :shared] = 1
    for i, s in enumerate(suffixes):
        cols = slice(0, len(s)) if all_logits else slice(width - len(s), width)
        ids[i, cols] = torch.tensor(s, dtype=torch.long)
        mask[i, shared + cols.start : shared + cols.stop] = 1
    # Each real token's position counts the real tokens before it; padding gets a harmless position.
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, shared:]
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        **({} if all_logits else _last_logits_only(model)),
    )
    logits = out.logits if all_logits else out.logits[:, -1, :]
    return Prefilled(
        cache=out.past_key_values,
        attention_mask=mask,
        next_position=mask.sum(dim=1),
        logits=logits,
        suffix_labels_offset=shared,
    )


def step(model: Any, state: Prefilled, tokens: torch.Tensor) -> None:
    """Feed one token per row (`tokens`, (B,)) on top of `state`; its logits replace ``state.logits``."""
    ones = torch.ones((len(tokens), 1), dtype=state.attention_mask.dtype, device=tokens.device)
    state.attention_mask = torch.cat([state.attention_mask, ones], dim=1)
    out = model(
        input_ids=tokens[:, None],
        attention_mask=state.attention_mask,
        position_ids=state.next_position[:, None],
        past_key_values=state.cache,
        use_cache=True,
    )
    state.cache = out.past_key_values
    state.logits = out.logits[:, -1, :]
    state.next_position = state.next_position + 1


def _last_logits_only(model: Any) -> dict[str, int]:
    """``logits_to_keep=1`` where the forward takes it: the vocabulary projection of one column, not all."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(base.forward).parameters else {}
