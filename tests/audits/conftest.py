"""Fixtures for the audit tests: a random tiny model (cannot add: the "too small to do the task" negative),
and fakes that plant a behaviour where a real model would take minutes to train."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch")


@pytest.fixture
def tiny(tiny_model_builder) -> tuple[Any, Any]:
    """A fresh randomly initialised tiny Llama: it answers nothing right, on any split."""
    return tiny_model_builder()


@pytest.fixture
def arith():
    from rlaudit.tasks import get_task

    return get_task("arith")


def state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
