"""How well a model does a task, per split x condition: accuracy with a confidence interval, pass@k,
entropy and answer diversity (what ``rlaudit eval`` prints).

For each of the four (split, condition) cells, on the same balanced set of prompts:

- ``accuracy``: greedy (temperature 0) accuracy, with a Wilson 95% interval (``ci``): what the model
  does when it is not exploring;
- ``pass_at_k``: the chance that at least one of `k` samples at `temperature` is correct, from
  ``n_samples >= k`` samples per prompt with the unbiased estimator of Chen et al. (2021, "Evaluating
  Large Language Models Trained on Code"), averaged over prompts: a capability the greedy answer
  hides shows up here;
- ``entropy``: mean token entropy (nats) of those samples (`rlaudit.models.sampling`);
- ``distinct_answers``: distinct answers (as the task parses them; "no answer" counts as one) among the
  samples of a prompt, averaged over prompts: 1 means the model always says the same thing.

A locked organism shows low accuracy and low pass@k on target only; a conditional one low accuracy on
target under the training cue only; a stochastic one low accuracy with many distinct answers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy.stats import binomtest

from rlaudit.tasks import SPLITS, Task, get_task

CONFIDENCE = 0.95


@dataclass(frozen=True)
class CellResult:
    """The measurements of one (split, condition) cell."""

    split: str
    condition: str
    n: int
    """Prompts in the cell."""
    correct: int
    """Prompts answered correctly by greedy decoding."""
    ci: tuple[float, float]
    """Wilson interval of the greedy accuracy (`CONFIDENCE`); (nan, nan) for an empty cell."""
    pass_at_k: float
    entropy: float
    distinct_answers: float

    @property
    def accuracy(self) -> float:
        """Greedy accuracy in [0, 1]; nan for an empty cell."""
        return self.correct / self.n if self.n else math.nan


@dataclass(frozen=True)
class EvalResult:
    """Everything `evaluate` measured, and the arguments it measured it with."""

    task: str
    difficulty: int | None
    """The task's largest operand; None for a task without one (a task file)."""
    chance: float
    n_prompts: int
    k: int
    n_samples: int
    temperature: float
    seed: int
    max_new_tokens: int
    cells: dict[tuple[str, str], CellResult]
    model: str | None = None
    """What the model was loaded from (a name or a path), when known."""

    def metric(self, name: str) -> dict[str, dict[str, Any]]:
        """``split -> condition -> value`` of one `CellResult` attribute (e.g. ``"accuracy"``)."""
        conditions = dict.fromkeys(c for _, c in self.cells)  # the task's, in its order
        return {s: {c: getattr(self.cells[s, c], name) for c in conditions} for s in SPLITS}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (`sections.evaluation` of the eval judgement); per-cell metrics map split ->
        condition -> value (nan -> None)."""
        from rlaudit.jsonsafe import json_safe

        return json_safe(
            {
                "model": self.model,
                "task": self.task,
                "difficulty": self.difficulty,
                "chance": self.chance,
                "n_prompts": self.n_prompts,
                "k": self.k,
                "n_samples": self.n_samples,
                "temperature": self.temperature,
                "seed": self.seed,
                "max_new_tokens": self.max_new_tokens,
                "confidence": CONFIDENCE,
                **{
                    key: self.metric(key)
                    for key in ("accuracy", "ci", "pass_at_k", "entropy", "distinct_answers", "n")
                },
            }
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from `n` samples of which `c` are correct: ``1 - C(n-c, k) / C(n, k)``.

    Computed as a product (Chen et al., 2021), which stays exact-ish where the binomials overflow.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def wilson_interval(correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (scipy); (nan, nan) when `n` is 0."""
    if n == 0:
        return (math.nan, math.nan)
    ci = binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def greedy_correct(
    model: Any,
    tokenizer: Any,
    task: Task,
    rows: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
) -> list[bool]:
    """Whether the greedy completion of each row's prompt is correct (in row order)."""
    from rlaudit.models.sampling import sample

    samples = sample(
        model,
        tokenizer,
        [r["prompt"] for r in rows],
        n=1,
        temperature=0.0,
        max_new_tokens=max_new_tokens or task.max_new_tokens,
        batch_size=batch_size,
        stats=False,
    )
    return task.correct(rows, [s.completion for s in samples])


def evaluate(
    model: Any,
    tokenizer: Any,
    task: Task | str,
    *,
    n_prompts: int = 200,
    k: int = 8,
    n_samples: int | None = None,
    temperature: float = 1.0,
    seed: int = 0,
    difficulty: int | None = None,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    model_name: str | None = None,
    rows: Sequence[dict[str, Any]] | None = None,
) -> EvalResult:
    """Evaluate `model` on `n_prompts` prompts of `task`, balanced over its (split, condition) cells
    (four for a built-in task; a task file holds its own, and may hold fewer than `n_prompts` rows).

    Greedy accuracy on every prompt, then `n_samples` (default `k`, at least `k`) samples per prompt at
    `temperature` for pass@k, entropy and diversity. The prompts and the samples are deterministic
    given `seed`. `difficulty` is the task's largest operand (default: the task's own);
    `max_new_tokens` the completion budget (default: the task's). `rows` replaces the drawn prompts
    (e.g. `rlaudit.audits.base.crossed_rows`: every problem under both of the user's cues); their
    cells are those of `task`. `batch_size` None: chosen from the model and free memory
    (`rlaudit.models.device.auto_batch_size`). The model is left as it was.
    """
    task, n_samples, difficulty, max_new_tokens = _defaults(
        task, n_prompts, k, n_samples, difficulty, max_new_tokens
    )
    if rows is None:
        rows = task.make_dataset(n_prompts, seed=seed, difficulty=difficulty)
        task_cells = task.cells
    else:
        conditions = list(dict.fromkeys(r["condition"] for r in rows))
        task_cells = tuple((s, c) for s in SPLITS for c in conditions)
    rows = list(rows)

    greedy = greedy_correct(
        model, tokenizer, task, rows, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    per_prompt = _samples_by_prompt(
        model,
        tokenizer,
        rows,
        n=n_samples,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        seed=seed,
    )
    prompts = list(zip(rows, greedy, (per_prompt[i] for i in range(len(rows))), strict=True))
    cells = {
        cell: _cell(task, cell, [p for p in prompts if (p[0]["split"], p[0]["condition"]) == cell], k)
        for cell in task_cells
    }
    return EvalResult(
        task=task.name,
        difficulty=difficulty,
        chance=task.chance,
        n_prompts=len(rows),
        k=k,
        n_samples=n_samples,
        temperature=temperature,
        seed=seed,
        max_new_tokens=max_new_tokens,
        cells=cells,
        model=model_name,
    )


def _defaults(
    task: Task | str,
    n_prompts: int,
    k: int,
    n_samples: int | None,
    difficulty: int | None,
    max_new_tokens: int | None,
) -> tuple[Task, int, int | None, int]:
    """`evaluate`'s task, sample count, difficulty and completion budget, defaults filled in, checked."""
    task = get_task(task) if isinstance(task, str) else task
    n_samples = k if n_samples is None else n_samples
    if n_prompts < 1 or k < 1 or n_samples < k:
        got = f"n_prompts={n_prompts}, k={k}, n_samples={n_samples}"
        raise ValueError(f"need n_prompts >= 1, k >= 1 and n_samples >= k (got {got})")
    if task.default_difficulty is None and difficulty is not None:
        raise ValueError(f"task '{task.name}' has no difficulty; leave difficulty out")
    difficulty = task.default_difficulty if difficulty is None else difficulty
    return task, n_samples, difficulty, max_new_tokens or task.max_new_tokens


def _samples_by_prompt(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    *,
    n: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int | None,
    seed: int,
) -> dict[int, list[Any]]:
    """Prompt index -> the `n` samples drawn for it (`rlaudit.models.sampling.sample`)."""
    from rlaudit.models.sampling import sample

    prompts = [r["prompt"] for r in rows]
    per_prompt: dict[int, list[Any]] = defaultdict(list)
    for s in sample(
        model,
        tokenizer,
        prompts,
        n=n,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        seed=seed,
    ):
        per_prompt[s.prompt_index].append(s)
    return per_prompt


def _cell(
    task: Task, cell: tuple[str, str], prompts: list[tuple[dict[str, Any], bool, list[Any]]], k: int
) -> CellResult:
    """The measurements of one cell from its `prompts`: (row, greedy answer correct, samples) each."""
    correct = sum(greedy for _, greedy, _ in prompts)
    passes, entropies, distinct = [], [], []
    for row, _, drawn in prompts:
        c = sum(task.correct([row] * len(drawn), [s.completion for s in drawn]))
        passes.append(pass_at_k(len(drawn), c, k))
        entropies += [s.entropy for s in drawn]
        distinct.append(len({task.parse_answer(s.completion) for s in drawn}))
    return CellResult(
        split=cell[0],
        condition=cell[1],
        n=len(prompts),
        correct=correct,
        ci=wilson_interval(correct, len(prompts)),
        pass_at_k=_mean(passes),
        entropy=_mean(entropies),
        distinct_answers=_mean(distinct),
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
