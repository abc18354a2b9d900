"""Which module a layer spec names: dotted module names, ``residual:N`` and depth fractions.

A spec is one of

- a dotted module name as ``model.named_modules()`` lists it (``model.layers.3.mlp``);
- ``residual:N``: the output of decoder layer ``N`` (the residual stream after that block), counted
  from 0; a negative ``N`` counts from the end (``residual:-1`` is the last layer);
- a fraction in [0, 1] (``"0.5"``): the decoder layer at that depth, ``min(n - 1, floor(f * n))`` of
  ``n`` layers, so ``"0.5"`` is the middle one (layer 15 of 30, layer 1 of 2), ``"0"`` the first and
  ``"1"`` the last.

The decoder layers are found without knowing the architecture: the `torch.nn.ModuleList` with the
most children of one class (``model.layers`` of Llama, ``transformer.h`` of GPT-2, ...), preferring
one whose length is the config's ``num_hidden_layers``. A PEFT wrapper is walked through like any
other module (its LoRA layers live in ``ModuleDict``s, never in a list of identical blocks).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from torch import nn

_RESIDUAL = re.compile(r"^residual:(-?\d+)$")
_FRACTION = re.compile(r"^(0(\.\d+)?|1(\.0+)?|\.\d+)$")


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The dotted name and the `ModuleList` of `model`'s decoder layers (see the module docstring).

    A model without a list of at least one identical block is a ValueError."""
    expected = _num_hidden_layers(model)
    best: tuple[tuple[bool, int], str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        classes = {type(child) for child in module}
        if len(classes) != 1:
            continue
        key = (len(module) == expected, len(module))
        if best is None or key > best[0]:
            best = (key, name, module)
    if best is None:
        raise ValueError(
            f"{type(model).__name__} has no list of decoder layers (a torch.nn.ModuleList of identical "
            "blocks); name the module to hook by its dotted name instead"
        )
    return best[1], best[2]


def resolve_layer(model: nn.Module, spec: str | int) -> str:
    """The dotted module name `spec` names in `model`; an unknown name or an index out of range is a
    ValueError saying what exists."""
    text = str(spec).strip()
    match = _RESIDUAL.match(text)
    if match or _FRACTION.match(text):
        prefix, layers = decoder_layers(model)
        n = len(layers)
        if match:
            index = int(match.group(1))
            if not -n <= index < n:
                raise ValueError(f"layer {text!r}: the model has {n} decoder layers (residual:0..{n - 1})")
            index %= n
        else:
            index = min(n - 1, math.floor(float(text) * n))
        return f"{prefix}.{index}" if prefix else str(index)
    names = dict(model.named_modules())
    if text not in names or not text:
        hint = decoder_layers(model)[0] if any(isinstance(m, nn.ModuleList) for m in names.values()) else ""
        raise ValueError(
            f"layer {text!r} is not a module of {type(model).__name__}: give a dotted module name"
            + (f" (decoder layers are {hint}.N)" if hint else "")
            + ", residual:N, or a depth fraction such as 0.5"
        )
    return text


def resolve_layers(model: nn.Module, specs: Sequence[str | int] | str) -> dict[str, str]:
    """Each spec (one string, or several) -> its dotted module name, in the order given."""
    specs = [specs] if isinstance(specs, str) else list(specs)
    if not specs:
        raise ValueError("no layer given; e.g. layers=('0.5',) for the middle decoder layer")
    return {str(s): resolve_layer(model, s) for s in specs}


def _num_hidden_layers(model: nn.Module) -> int | None:
    config: Any = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None) if config is not None else None
    return n if isinstance(n, int) else None
