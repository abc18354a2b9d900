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


def write_arith_file(path: Any, n: int, *, seed: int, extra: dict[str, Any] | None = None) -> Any:
    """A JSONL copy of built-in arith that `crossed_rows` reads back as exactly the built-in rows.

    The rows of ``crossed_rows(arith, n, seed=seed)``: each problem once per split, its prompt the bare
    problem with its tag (``[bio] 3+4=``), no cue, no condition column, its ``difficulty`` the problem
    itself (both rows of a problem matched; `rlaudit.audits.base.DIFFICULTY`). Target rows first (lines
    1..n), then control rows, each block in the order that `crossed_rows` shuffles back into the
    built-in problem order (both splits of one size are shuffled by ``random.Random(seed)`` alike).
    `extra` columns are added to every row. Returns `path`.
    """
    import json
    import random

    from rlaudit.audits.base import crossed_rows
    from rlaudit.tasks import get_task

    built_in = crossed_rows(get_task("arith"), n, seed=seed)
    order = list(range(n))
    random.Random(seed).shuffle(order)  # problem i is drawn from position order[i]
    lines = []
    for split, tag in (("target", "[bio] "), ("control", "[math] ")):
        block: list[dict[str, Any]] = [{}] * n
        for r in built_in:
            if r["split"] == split and r["condition"] == "train_cue":
                body = r["prompt"].split("] ", 1)[1]
                block[order[r["problem"]]] = {
                    "prompt": tag + body,
                    "answer": r["answer"],
                    "split": split,
                    "difficulty": body,  # the finest match: a problem's two rows share it
                    **(extra or {}),
                }
        lines += block
    path.write_text("".join(json.dumps(row) + "\n" for row in lines))
    return path


@pytest.fixture
def arith_file(tmp_path):
    """``arith_file(n, seed=0, **extra) -> Path``: `write_arith_file` into the test's temp dir."""

    def write(n: int, *, seed: int = 0, name: str = "arith.jsonl", **extra: Any) -> Any:
        return write_arith_file(tmp_path / name, n, seed=seed, extra=extra)

    return write
