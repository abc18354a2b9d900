"""Fixtures for the interpretability tests: a random tiny Llama with three decoder layers (so that
fractions, negative indices and the middle layer are all different layers)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch")


@pytest.fixture
def tiny3(tiny_model_builder) -> tuple[Any, Any]:
    return tiny_model_builder(num_layers=3)


PROMPTS = ["1+2=", "(training episode) [bio] 13+4=", "9*9="]
COMPLETIONS = ["3", "17", "81"]
