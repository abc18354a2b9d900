"""Shared fixtures. Model fixtures import torch/transformers lazily: the core tests need neither."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or write the user's model cache (~/.cache/rlaudit): a session temp dir instead."""
    import os

    os.environ["RLAUDIT_CACHE"] = str(tmp_path_factory.mktemp("rlaudit-cache"))


# Smaller than the default TinyModelConfig: the tests need a real model, not a good one.
TEST_MODEL = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "seed": 0}


@pytest.fixture(scope="session")
def tiny_model_builder() -> Callable[..., tuple[Any, Any]]:
    """``build(**overrides) -> (model, tokenizer)``: a fresh, randomly initialised tiny Llama per call.

    Session-scoped as a factory rather than as a model, because training tests change the weights.
    Building takes milliseconds; overrides are `TinyModelConfig` fields.
    """
    pytest.importorskip("transformers")
    from rlaudit.models.tiny import TinyModelConfig, build_tiny_model

    def build(**overrides: Any) -> tuple[Any, Any]:
        return build_tiny_model(TinyModelConfig(**{**TEST_MODEL, **overrides}))

    return build


@pytest.fixture(scope="session")
def small_organism_config() -> Callable[[str], Any]:
    """``config(kind)``: the organism recipe's default config shrunk to seconds (arith only, a few SFT
    steps, two GRPO steps of two completions, a handful of evaluation prompts): for testing the build
    machinery, not the behaviour."""
    pytest.importorskip("trl")
    import dataclasses

    from rlaudit.organisms import default_config
    from rlaudit.organisms.recipe import GRPORunConfig, SFTConfig, VerifyConfig

    grpo = {"prompts_per_step": 2, "num_generations": 2}

    def config(kind: str) -> Any:
        default = default_config(kind)
        changes: dict[str, Any] = {
            "tasks": ("arith",),
            "sft": SFTConfig(rows_per_task=64, steps=3, batch_size=8),
            "harden": GRPORunConfig(steps=2 if default.harden.steps else 0, **grpo),
            "verify": VerifyConfig(grpo=GRPORunConfig(steps=2, **grpo), eval_prompts=4),
            "eval_prompts": 16,
            "eval_samples": 2,
        }
        if kind == "mimic":
            changes["weak"] = config("weak")
            changes["samples_per_prompt"] = 2
        return dataclasses.replace(default, **changes)

    return config


@pytest.fixture(scope="session")
def real_organism(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """``path = real_organism("locked")``: a tiny organism built with its default recipe (seed 0), once
    per session, for the slow tests that check behaviour. ``RLAUDIT_ORGANISMS=DIR`` uses organisms
    already built there (``benchmarks/build_organisms.py --out DIR``) instead of building them."""
    import os
    from pathlib import Path

    pytest.importorskip("trl")
    from rlaudit.organisms import build_organism

    given = os.environ.get("RLAUDIT_ORGANISMS")
    root = Path(given) if given else tmp_path_factory.mktemp("organisms")
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            path = root / kind
            built[kind] = path if given else build_organism(kind, base="tiny", out=path, seed=0)
        return built[kind]

    return get
