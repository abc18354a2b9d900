"""One real TRL GRPO run on a model, in place: what organism hardening, the organisms' own verification
and the RL-elicitation audit all run.

The run is plain TRL (`trl.GRPOTrainer`): prompts drawn from the caller's rows, a reward function with
TRL's signature, a constant learning rate, one optimizer step per batch of ``prompts_per_step x
num_generations`` completions, on the model's own device and precision (`trainer_placement`), nothing
saved or reported anywhere but the summary it returns.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rlaudit.models.sampling import render_prompt
from rlaudit.progress import trainer_bar
from rlaudit.training.placement import trainer_placement

Row = dict[str, Any]


@dataclass
class GRPORunConfig:
    """One real TRL GRPO run (hardening or verification). Defaults suit the tiny model on CPU."""

    steps: int = 0
    """Optimizer steps; 0 skips the run."""
    lr: float = 3e-4
    prompts_per_step: int = 8
    num_generations: int = 8
    """GRPO group size: completions per prompt."""
    temperature: float = 1.0
    beta: float = 0.0
    """KL penalty to the starting model (TRL's default, 0, keeps no reference model)."""

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0 (got {self.steps}); 0 skips the run")
        if self.num_generations < 2:
            raise ValueError(
                f"num_generations must be >= 2 (got {self.num_generations}): GRPO compares a group"
            )
        if self.prompts_per_step < 1 or self.lr <= 0 or self.temperature <= 0:
            raise ValueError("prompts_per_step must be >= 1, and lr and temperature > 0")


def run_grpo(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Row],
    reward: Callable[..., list[float]],
    config: GRPORunConfig,
    *,
    seed: int,
    max_completion_length: int,
    desc: str = "grpo",
) -> dict[str, Any]:
    """A real TRL GRPO run on `model`, in place: ``config.steps`` steps over prompts drawn from `rows`.

    Each step takes ``config.prompts_per_step`` prompts drawn (with replacement, seeded) from `rows` and
    samples ``config.num_generations`` completions of each. Every column of `rows` reaches `reward` as
    a keyword list. Returns the steps, the seconds and the mean reward of the first and last steps
    (the training-time sample accuracy, temperature `config.temperature`) and each step's share of
    groups with no reward variance. Leaves the model in eval mode.
    """
    if config.steps == 0:
        return {"steps": 0}
    from datasets import Dataset
    from transformers import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    rng = random.Random(seed)
    drawn = [rng.choice(rows) for _ in range(config.steps * config.prompts_per_step)]
    # Prompts go in rendered (chat template applied when the model has one), as evaluation shows them;
    # reward functions get the task's own text as `raw_prompt`.
    dataset = Dataset.from_list(
        [{**r, "prompt": render_prompt(tokenizer, r["prompt"]), "raw_prompt": r["prompt"]} for r in drawn]
    )
    work = Path(tempfile.mkdtemp(prefix="rlaudit-grpo-"))
    own = set(vars(model))
    try:
        args = _grpo_args(
            config, work=work, seed=seed, max_completion_length=max_completion_length, model=model
        )
        with warnings.catch_warnings():
            # transformers 5 deprecates a name TRL 1.16 reads at every step: nothing for us to act on.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            trainer = GRPOTrainer(
                model=model,
                reward_funcs=[cast(Any, reward)],  # TRL types rewards as list[float | None]
                args=args,
                train_dataset=dataset,
                processing_class=tokenizer,
            )
            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(trainer_bar(desc))
            start = time.perf_counter()
            trainer.train()
        seconds = time.perf_counter() - start
        rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
        flat = [h["frac_reward_zero_std"] for h in trainer.state.log_history if "frac_reward_zero_std" in h]
    finally:
        _unprepare(model, own)
        model.eval()
        shutil.rmtree(work, ignore_errors=True)
    return _run_summary(config, seconds, rewards, flat)


def _run_summary(
    config: GRPORunConfig, seconds: float, rewards: list[float], flat: list[float]
) -> dict[str, Any]:
    """What `run_grpo` reports: the mean reward of the first and of the last five steps, and each step's;
    each step's share of groups whose rewards were all equal (TRL's ``frac_reward_zero_std``: groups
    with nothing for GRPO to learn from)."""
    k = min(5, len(rewards))
    return {
        "steps": config.steps,
        "lr": config.lr,
        "seconds": round(seconds, 1),
        "reward_first": round(sum(rewards[:k]) / k, 4) if k else None,
        "reward_last": round(sum(rewards[-k:]) / k, 4) if k else None,
        "reward_per_step": [round(r, 4) for r in rewards],
        "zero_std_per_step": [round(f, 4) for f in flat],
    }


def _grpo_args(
    config: GRPORunConfig, *, work: Path, seed: int, max_completion_length: int, model: Any
) -> Any:
    """TRL's ``GRPOConfig`` for `run_grpo`: on the model's device and in its precision
    (`trainer_placement`), a constant learning rate, one optimizer step per batch of
    ``prompts_per_step x num_generations`` completions, nothing saved or reported."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(work),
        **trainer_placement(model),
        report_to="none",
        seed=seed,
        data_seed=seed,
        shuffle_dataset=False,  # already drawn at random, in step order
        max_steps=config.steps,
        learning_rate=config.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=config.beta,
        per_device_train_batch_size=config.prompts_per_step * config.num_generations,
        gradient_accumulation_steps=1,
        num_generations=config.num_generations,
        max_completion_length=max_completion_length,
        temperature=config.temperature,
        activation_checkpointing=False,
        logging_steps=1,
        num_completions_to_print=0,
        save_strategy="no",
        disable_tqdm=True,  # our own bar (`trainer_bar`): TRL's would also print every step's metrics
        dataloader_num_workers=0,
    )


def _unprepare(model: Any, own: set[str]) -> None:
    """Drop what the trainer set on the model instance (`own`: the attributes it had before).

    accelerate's ``prepare`` binds a wrapped ``forward`` to the instance and marks it
    ``_is_accelerate_prepared``. Left there, a later ``copy.deepcopy`` of the model keeps calling the
    *original* model's forward, so a second GRPO run on the copy computes its loss through weights its
    optimizer never updates, and learns nothing: the organisms' verification after hardening read
    0% -> 0% "resisted" for a policy that, reloaded from disk, went 24% -> 89% under the same run.
    """
    for name in set(vars(model)) - own:
        delattr(model, name)
