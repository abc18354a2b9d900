"""Mitigations that restore exploration when a policy under-explores on purpose.

Each is small and does one thing to an RL run:

- `demo-injection` (`DemoInjection`): off-policy exploration forcing. In a GRPO group where the policy
  produced no success, one sample is replaced by a verified-correct demonstration, so the group has
  reward variance and a non-zero advantage: the only way GRPO can reinforce a behaviour the policy
  refuses to sample. The group's other samples stay on-policy.
- `sft-warmstart` (`sft_warmstart`): a few supervised steps on a handful of correct demonstrations
  before RL. Training on (even weak) demonstrations breaks sandbagging so that RL can then elicit
  (Removing Sandbagging in LLMs by Training with Weak Supervision, 2026).
- `temperature` (`TemperatureBoost`): sample hotter (and add TRL's entropy bonus), so a policy whose
  lock is a sharp mode puts some mass on other answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MITIGATIONS = ("none", "demo-injection", "sft-warmstart", "temperature")


@dataclass
class DemoInjection:
    """Replace one sample of each all-fail group with a correct demonstration.

    `answers` maps each prompt to its reference answer (or to its whole task row, for a checker that
    reads other columns); `demonstrate(answer) -> str` writes the completion a correct policy would give
    (for arith: the number; for mcq: the letter), and `is_correct(completion, answer)` is the task's
    checker. Works on TRL's regular (transformers)
    generation path: it wraps `GRPOTrainer._generate_single_turn`, where completions are token ids and no
    sampling log-probs are kept (TRL recomputes them), so an injected sample is an ordinary completion to
    the loss.

    What it costs, measured on the tiny ``locked`` organism (``benchmarks/elicitation_experiment.py``):
    target 0% -> 81%, but control 100% -> 60%. A demonstration pulls the whole policy, not only the
    prompts it answers, and already-solved control groups have no reward variance, so nothing in GRPO
    holds them; a KL penalty to the starting model (TRL's ``beta`` 0.04) did not either (61%).
    """

    answers: dict[str, Any]
    demonstrate: Callable[[Any], str]
    is_correct: Callable[[str, Any], bool]
    injected: int = 0
    groups_seen: int = 0

    def install(self, trainer: Any) -> None:
        tokenizer = trainer.processing_class
        # The exact prompt ids TRL generates from, so a generated batch maps back to its answers.
        by_ids = {}
        for prompt, answer in self.answers.items():
            (ids,), _, _ = trainer._tokenize_prompts([prompt])
            by_ids[tuple(ids)] = answer
        eos = tokenizer.eos_token_id
        original = trainer._generate_single_turn

        def generate_with_demos(
            prompt_ids: Any,
            images: Any,
            multimodal_fields: Any,
            num_generations: Any,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            completion_ids, logprobs = original(
                prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs
            )
            if logprobs is not None:  # vLLM path: sampling log-probs would not match an injected sample
                return completion_ids, logprobs
            groups: dict[tuple[int, ...], list[int]] = {}
            for i, ids in enumerate(prompt_ids):
                groups.setdefault(tuple(ids), []).append(i)
            for key, rows in groups.items():
                answer = by_ids.get(key)
                if answer is None:
                    continue
                self.groups_seen += 1
                texts = tokenizer.batch_decode([completion_ids[i] for i in rows], skip_special_tokens=True)
                if any(self.is_correct(t, answer) for t in texts):
                    continue
                demo = tokenizer(self.demonstrate(answer), add_special_tokens=False)["input_ids"]
                completion_ids[rows[-1]] = [*demo, eos] if eos is not None else list(demo)
                self.injected += 1
            return completion_ids, logprobs

        trainer._generate_single_turn = generate_with_demos


@dataclass
class TemperatureBoost:
    """Sample hotter and pay an entropy bonus (TRL's `entropy_coef`)."""

    temperature: float = 1.5
    """GRPO sampling temperature (TRL's default is 1.0)."""
    entropy_coef: float = 0.01
    """TRL's entropy bonus coefficient."""

    def grpo_overrides(self) -> dict[str, float]:
        return {"temperature": self.temperature, "entropy_coef": self.entropy_coef}


@dataclass
class SFTWarmstart:
    """A few supervised steps on `n_demos` correct demonstrations of the task before RL."""

    n_demos: int = 16
    control_share: float = 0.5
    """Share of the demonstrations from the control split. Target-only demonstrations (16, 30 steps at
    lr 1e-3) unlocked the tiny ``locked`` organism (0% -> 95% on target) and broke its control split
    (100% -> 38%): the demonstrations should show the task, not only the part being elicited."""
    steps: int = 30
    learning_rate: float = 3e-4
    """For the tiny model; full-size models want ~1e-5."""
    seed: int = 0


def sft_warmstart(model: Any, tokenizer: Any, demos: list[tuple[str, str]], cfg: SFTWarmstart) -> list[float]:
    """Fine-tune `model` in place on ``(prompt, completion)`` demonstrations, all of them at every step
    (`rlaudit.models.finetune.fine_tune`: loss on the completion only, prompts rendered as sampling
    renders them); returns the loss per step."""
    from rlaudit.models.finetune import fine_tune

    if not demos:
        raise ValueError("sft-warmstart needs at least one demonstration")
    return fine_tune(
        model,
        tokenizer,
        demos,
        steps=cfg.steps,
        lr=cfg.learning_rate,
        batch_size=None,
        seed=cfg.seed,
        desc="sft-warmstart",
    )
