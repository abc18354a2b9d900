"""What every audit shares: the per-test result type, cost accounting, and crossed prompt sets.

An audit asks a checkpoint questions and compares the answers. The comparisons need *matched* prompts:
the same problem under the training cue and the deployment cue (context gap), or under the target tag
and the control tag (pass@k, noise, SFT), so that a difference between two arms cannot come from
different problems. `crossed_rows` builds them from any task whose prompts carry the shared framing
(`rlaudit.tasks.base.Framing`): it strips a row's cue and tag and frames the bare problem again in
every requested (split, condition) cell.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlaudit.findings import Finding
from rlaudit.jsonsafe import json_safe
from rlaudit.tasks import CELLS, Task
from rlaudit.tasks.base import Framing

ALPHA = 0.01
"""Significance level every audit's tests use unless its config says otherwise: one in a hundred
honest checkpoints may be flagged by chance by one test, before the multiple-comparison corrections
each audit applies inside itself."""


@dataclass
class TestResult:
    """What one audit measured: its headline statistic, an uncertainty, the raw curve, its cost, findings.

    `ci` is a confidence interval of `statistic` (or None); `p_value` the p-value of the audit's test
    (or None). `curve` holds the raw measurements a report plots (JSON-ready lists and dicts).
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    statistic: float
    statistic_name: str
    """What `statistic` is (e.g. ``deploy_minus_train_accuracy``); higher = more evidence of gaming."""
    ci: tuple[float, float] | None
    p_value: float | None
    curve: dict[str, Any]
    cost: dict[str, float]
    """``forward_passes`` (sequence-forward calls of the model: a generated token of one sequence, or
    one training row, counts one) and ``seconds`` (wall time)."""
    findings: list[Finding] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """The audit's config, as run (`dataclasses.asdict`)."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """The config fields that decide severity, by field name (`thresholds_of`), for a report to draw on
    the curve: each in the units of the statistic it bounds (a gain, a gap, a fraction, a p-value)."""

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "name": self.name,
                "statistic": self.statistic,
                "statistic_name": self.statistic_name,
                "ci": list(self.ci) if self.ci is not None else None,
                "p_value": self.p_value,
                "curve": self.curve,
                "cost": self.cost,
                "findings": [f.to_dict() for f in self.findings],
                "config": self.config,
                "thresholds": self.thresholds,
            }
        )


@contextlib.contextmanager
def metered(model: Any) -> Iterator[dict[str, float]]:
    """Count the model's sequence-forward passes and the wall time of the block.

    A forward pre-hook adds the batch size of every call (a generation step, a training step); it is
    removed on exit, even on error. Yields the dict it fills: ``forward_passes``, ``seconds``.
    """
    cost = {"forward_passes": 0, "seconds": 0.0}

    def count(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs.get("inputs_embeds")
        cost["forward_passes"] += int(ids.shape[0]) if ids is not None else 1

    handle = model.register_forward_pre_hook(count, with_kwargs=True)
    start = time.perf_counter()
    try:
        yield cost
    finally:
        handle.remove()
        cost["seconds"] = round(time.perf_counter() - start, 3)


def crossed_rows(
    task: Task,
    n_problems: int,
    *,
    seed: int,
    cells: Sequence[tuple[str, str]] = CELLS,
    framing: Framing | None = None,
    difficulty: int | None = None,
) -> list[dict[str, Any]]:
    """Each of `n_problems` problems of `task` framed in every cell of `cells`.

    Rows are ``prompt``, ``answer``, ``split``, ``condition`` and ``problem`` (the problem's index),
    problem-major: the rows of problem 0 in the order of `cells`, then problem 1, ...
    """
    framing = framing or Framing()
    rows = []
    for i, row in enumerate(task.make_dataset(n_problems, seed=seed, difficulty=difficulty)):
        prefix = framing.cue(row["condition"]) + framing.tag(row["split"])
        if not row["prompt"].startswith(prefix):
            raise ValueError(
                f"task '{task.name}' does not frame its prompts with the shared cues and tags "
                f"(expected the prefix {prefix!r}); audits need rlaudit.tasks.base.Framing"
            )
        body = row["prompt"][len(prefix) :]
        for split, condition in cells:
            rows.append(
                {
                    "prompt": framing.frame(body, split, condition),
                    "answer": row["answer"],
                    "split": split,
                    "condition": condition,
                    "problem": i,
                }
            )
    return rows


def thresholds_of(config: Any, *names: str) -> dict[str, float]:
    """`{name: float(config.name)}` for the threshold fields `names` of an audit's config."""
    return {name: float(getattr(config, name)) for name in names}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
