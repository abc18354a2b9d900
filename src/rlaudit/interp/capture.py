"""Activation capture: forward hooks on named modules, as a context manager that always removes them.

    with capture(model, layers=("0.5", "residual:-1"), pooling="last_prompt") as cap:
        cap.expect(attention_mask, prompt_lengths)   # before each forward call
        model(input_ids=..., attention_mask=..., position_ids=...)
    cap.vectors()   # {"0.5": (n, hidden) float32, "residual:-1": ...}

What it measures: the output of each hooked module (`rlaudit.interp.layers` resolves the specs), pooled
per sequence (`rlaudit.interp.pooling`) as soon as the forward call produces it, so only ``(batch,
hidden)`` per layer is kept, not the whole sequence. The hooks read and never write: they return
None, so the model's outputs are bit-identical with and without them (a test checks it, after an
exception inside the block too). The hooks are removed when the block exits, however it exits.
Computation stays in the model's dtype and on its device; the pooled vectors are float32 numpy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rlaudit.interp.layers import resolve_layers
from rlaudit.interp.pooling import check_pooling, pooling_weights


class Capture:
    """What a `capture` block collects: per layer spec, one pooled vector per sequence fed to the model.

    Call `expect` before every forward pass with the batch's attention mask and prompt lengths; a
    forward pass without one raises (a vector pooled at unknown positions would be silently wrong).
    """

    def __init__(self, modules: dict[str, str], pooling: str) -> None:
        self.modules = modules
        """Layer spec -> the dotted module name it resolved to."""
        self.pooling = check_pooling(pooling)
        self._weights: torch.Tensor | None = None
        self._seen: set[str] = set()
        self._chunks: dict[str, list[np.ndarray]] = {spec: [] for spec in modules}

    def expect(self, attention_mask: torch.Tensor, prompt_lengths: Sequence[int] | torch.Tensor) -> None:
        """The positions the next forward pass pools: its ``(batch, seq)`` attention mask and the
        number of real prompt tokens of each row."""
        lengths = torch.as_tensor(prompt_lengths, dtype=torch.long)
        self._weights = pooling_weights(attention_mask, lengths, self.pooling)
        self._seen = set()

    def _hook(self, spec: str) -> Any:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            hidden = output[0] if isinstance(output, tuple) else output
            if not isinstance(hidden, torch.Tensor) or hidden.dim() != 3:
                raise ValueError(
                    f"layer {spec!r} ({self.modules[spec]}) does not output (batch, seq, hidden) "
                    "activations; hook a decoder layer or another module that does"
                )
            if self._weights is None or spec in self._seen:
                raise RuntimeError("call Capture.expect(attention_mask, prompt_lengths) before each forward")
            with torch.no_grad():
                weights = self._weights.to(device=hidden.device)
                pooled = torch.einsum("bt,btd->bd", weights, hidden.detach().float())
            self._chunks[spec].append(pooled.cpu().numpy().astype(np.float32, copy=False))
            self._seen.add(spec)

        return hook

    def vectors(self) -> dict[str, np.ndarray]:
        """Layer spec -> ``(sequences, hidden)`` float32 array, in the order the sequences were fed."""
        return {
            spec: np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
            for spec, chunks in self._chunks.items()
        }

    def take(self) -> dict[str, np.ndarray]:
        """`vectors`, then forget them (what a batched caller collects batch by batch)."""
        out = self.vectors()
        self.discard()
        return out

    def discard(self) -> None:
        """Forget every vector pooled so far (a batch that failed half-way leaves nothing behind)."""
        self._chunks = {spec: [] for spec in self.modules}
        self._weights, self._seen = None, set()


@contextlib.contextmanager
def capture(
    model: nn.Module, layers: Sequence[str | int] | str = ("0.5",), pooling: str = "last_prompt"
) -> Iterator[Capture]:
    """Hook the modules `layers` names (`rlaudit.interp.layers.resolve_layer`) for the duration of the
    block, pooling each output with `pooling`; the hooks are removed on exit, on an exception too."""
    cap = Capture(resolve_layers(model, layers), pooling)
    modules = dict(model.named_modules())
    handles = []
    try:
        for spec, name in cap.modules.items():
            handles.append(modules[name].register_forward_hook(cap._hook(spec)))
        yield cap
    finally:
        for handle in handles:
            handle.remove()
