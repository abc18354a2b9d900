"""How many torch threads to run a model on.

A small model runs fastest on one thread: OpenMP threads spin-wait on each other for every one of its
thousands of tiny ops, which costs more than the split saves, and much more when another process is
busy on the machine. The CLI verbs, `rlaudit.training.elicit` and the tiny base's training pin the
count for their block and restore it after (they also run in-process: tests, notebooks).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SMALL_MODEL_PARAMETERS = 10_000_000
"""Below this size `suggested_threads` says 1: the tiny base (0.14M) evaluates in 1 s on one thread and
in 7-20 s on two when another process is busy on the machine. SmolLM2-135M's matrices are big enough
to split."""


def suggested_threads(model: Any) -> int | None:
    """1 for a model under `SMALL_MODEL_PARAMETERS`, None (leave torch's default) for a larger one."""
    n_parameters = sum(p.numel() for p in model.parameters())
    return 1 if n_parameters < SMALL_MODEL_PARAMETERS else None


@contextmanager
def torch_threads(model: Any, threads: int | None = None) -> Iterator[None]:
    """Run the block on `threads` torch threads (default: `suggested_threads` of `model`; `model` is
    not looked at when `threads` is given), then restore the count, even on error."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or suggested_threads(model) or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)
