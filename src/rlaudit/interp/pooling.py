"""Pooling: one vector per sequence out of a layer's ``(batch, seq, hidden)`` output.

What is pooled is decided by the sequence's *real* tokens (``attention_mask == 1``), so left and right
padding give the same vectors:

- ``completion_mean``: the mean over the completion tokens (the real tokens after the first
  ``prompt_length`` ones): what the model computes while it answers;
- ``last_prompt``: the last prompt token (where the model decides how to begin its answer; needs no
  completion);
- ``last``: the last real token of the sequence.
"""

from __future__ import annotations

import torch

POOLINGS = ("completion_mean", "last_prompt", "last")


def check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}")
    return pooling


def pooling_weights(attention_mask: torch.Tensor, prompt_lengths: torch.Tensor, pooling: str) -> torch.Tensor:
    """``(batch, seq)`` float32 weights, each row summing to 1, that pool a layer output by
    ``einsum("bt,btd->bd", weights, hidden)``.

    `prompt_lengths` counts each row's real prompt tokens (the first real tokens of the row). A row
    with no real prompt token, or (for ``completion_mean``) no completion token, is a ValueError.
    """
    check_pooling(pooling)
    mask = attention_mask.to(torch.long)
    lengths = prompt_lengths.to(device=mask.device, dtype=torch.long).view(-1, 1)
    real = mask.sum(dim=1, keepdim=True)
    if bool((lengths < 1).any()) or bool((lengths > real).any()):
        raise ValueError("every prompt needs at least one token and at most its sequence's tokens")
    rank = mask.cumsum(dim=1) - 1  # index of each real token among its row's real tokens
    on = mask.bool()
    if pooling == "last_prompt":
        chosen = on & (rank == lengths - 1)
    elif pooling == "last":
        chosen = on & (rank == real - 1)
    else:
        chosen = on & (rank >= lengths)
        if bool((chosen.sum(dim=1) == 0).any()):
            raise ValueError("completion_mean needs at least one completion token in every sequence")
    weights = chosen.to(torch.float32)
    return weights / weights.sum(dim=1, keepdim=True)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only (0 at each row's first real token; pads at 0), so a
    left-padded row is computed as if it were alone."""
    return (attention_mask.to(torch.long).cumsum(dim=1) - 1).clamp(min=0)
