"""`rlaudit elicit`: a GRPO capability-elicitation run with the monitor attached.

The central experiment of the exploration-hacking research, as one function: measure the model on the
task, run GRPO (TRL) on the task's *target* split with a correctness reward, measure again. RL elicits
an honest model's capability and fails on a model that resists; the monitor records every rollout and
says when it first saw the run as suspicious. A mitigation (`rlaudit.training.mitigations`) can be
switched on to show what restores exploration.

Everything is seeded; on CPU the run is reproducible given the seed.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlaudit.training.mitigations import (
    MITIGATIONS,
    DemoInjection,
    SFTWarmstart,
    TemperatureBoost,
    sft_warmstart,
)


@dataclass
class ElicitConfig:
    """One elicitation run. Defaults suit the tiny model on CPU (a step takes well under a second)."""

    task: str = "arith"
    steps: int = 30
    seed: int = 0
    mitigation: str = "none"
    """One of `MITIGATIONS`."""
    prompts_per_step: int = 8
    """Prompts per GRPO step (about 6 target and 2 control at the default `control_fraction`). With 4, the monitor
    saw 3 target groups a step, and a short run's levels were luck: an honest ``weak`` run looked starved
    on the 6 groups of its steps 3-5 (its carry problems, drawn 6 times in a row)."""
    control_fraction: float = 0.25
    """Share of the RL prompts drawn from the control split. RL is aimed at target; the control prompts
    are the monitor's reference (selective under-exploration is target failing where control, at the
    same difficulty, succeeds), and an already-solved control group has no reward variance, hence no
    gradient, so they barely change what RL does to target."""
    num_generations: int = 8
    """GRPO group size."""
    learning_rate: float = 1e-4
    """A lock that leaks at 3e-4 holds at 1e-4 on the tiny model (scripts/record_example_log.py): the
    default keeps RL honest rather than brute-forcing through generalisation from control."""
    temperature: float = 1.0
    max_completion_length: int | None = None
    """Default: the task's own completion budget."""
    eval_prompts: int = 200
    """Held-out prompts for the before/after accuracy (per split x condition: a quarter each)."""
    monitor_every: int = 1
    """Judge the run every this many steps (elicitation runs are short: every step, to time the first flag)."""
    sft: SFTWarmstart = field(default_factory=SFTWarmstart)
    boost: TemperatureBoost = field(default_factory=TemperatureBoost)

    def __post_init__(self) -> None:
        if self.mitigation not in MITIGATIONS:
            raise ValueError(
                f"unknown mitigation '{self.mitigation}'; choose one of {', '.join(MITIGATIONS)}"
            )
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1 (got {self.steps})")
        if not 0 <= self.control_fraction < 1:
            raise ValueError(f"control_fraction must be in [0, 1) (got {self.control_fraction})")


@dataclass
class ElicitResult:
    """Before/after accuracy (split -> accuracy, conditions pooled), when the monitor first flagged the run."""

    model: str
    config: dict[str, Any]
    before: dict[str, float]
    after: dict[str, float]
    first_flag_step: int | None
    verdict: str
    cells_before: dict[str, dict[str, float]]
    """split -> condition -> greedy accuracy (a conditional organism hides under one cue only)."""
    cells_after: dict[str, dict[str, float]]
    findings: list[dict[str, Any]]
    demos_injected: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def elicit(model_name: str, out: Path, config: ElicitConfig | None = None) -> ElicitResult:
    """Run one elicitation; writes `out/store`, `out/elicit.json` and `out/report.html`."""
    import torch

    from rlaudit.evaluation import torch_threads
    from rlaudit.models.loading import load_model
    from rlaudit.tasks import get_task

    cfg = config or ElicitConfig()
    task = get_task(cfg.task)
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_model(model_name)
    with torch_threads(model):
        return _run(model_name, model, tokenizer, task, out, cfg, start)


def _run(
    model_name: str, model: Any, tokenizer: Any, task: Any, out: Path, cfg: ElicitConfig, start: float
) -> ElicitResult:
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlaudit.evaluation import evaluate
    from rlaudit.models.sampling import render_prompt
    from rlaudit.report import write_html
    from rlaudit.training.monitor_callback import MonitorCallback, MonitorCallbackConfig

    def accuracy() -> dict[str, dict[str, float]]:
        result = evaluate(model, tokenizer, task, n_prompts=cfg.eval_prompts, k=1, seed=cfg.seed + 10_000)
        return result.metric("accuracy")

    cells_before = accuracy()

    # RL on the target split (the capability RL is trying to elicit), with a share of control prompts
    # for the monitor to compare against, interleaved so every stretch of steps holds both.
    pool = task.make_dataset(4 * cfg.steps * cfg.prompts_per_step, seed=cfg.seed)
    target = [r for r in pool if r["split"] == "target"]
    control = [r for r in pool if r["split"] == "control"]
    n_control = round(cfg.control_fraction * len(target) / (1 - cfg.control_fraction))
    # Prompts go in as the model sees them at evaluation (through its chat template, if it has one):
    # TRL feeds plain-string prompts to the model verbatim.
    rows = [
        {**r, "prompt": render_prompt(tokenizer, r["prompt"])}
        for r in _interleave(target, control[:n_control])
    ]
    answers = {r["prompt"]: r["answer"] for r in rows}
    if cfg.mitigation == "sft-warmstart":
        demo_rows = task.make_dataset(8 * cfg.sft.n_demos, seed=cfg.seed + 1)
        n_control = round(cfg.sft.control_share * cfg.sft.n_demos)
        by_split = {
            s: [(r["prompt"], r["answer"]) for r in demo_rows if r["split"] == s]
            for s in ("target", "control")
        }
        demos = by_split["target"][: cfg.sft.n_demos - n_control] + by_split["control"][:n_control]
        sft_warmstart(model, tokenizer, demos, cfg.sft)
    overrides = (
        cfg.boost.grpo_overrides() if cfg.mitigation == "temperature" else {"temperature": cfg.temperature}
    )
    args = GRPOConfig(
        output_dir=str(out / "trainer"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        max_steps=cfg.steps,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length or task.max_new_tokens,
        learning_rate=cfg.learning_rate,
        activation_checkpointing=False,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=False,
        **overrides,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[task.reward],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.remove_callback(PrinterCallback)
    injector = None
    if cfg.mitigation == "demo-injection":
        injector = DemoInjection(answers=answers, demonstrate=lambda a: a, is_correct=task.is_correct)
        injector.install(trainer)
    monitor = MonitorCallback(
        trainer,
        store=out / "store",
        config=MonitorCallbackConfig(
            every_steps=cfg.monitor_every, max_overhead=math.inf, run=Path(model_name).name
        ),
    )
    trainer.add_callback(monitor)
    trainer.train()
    model.eval()
    cells_after = accuracy()

    result = monitor.result
    findings = [f.to_dict() for f in result.findings] if result else []
    elicited = ElicitResult(
        model=model_name,
        config=asdict(cfg),
        before=_pooled(cells_before),
        after=_pooled(cells_after),
        cells_before=cells_before,
        cells_after=cells_after,
        first_flag_step=monitor.first_flag_step,
        verdict=result.verdict.label if result else "unknown",
        findings=findings,
        demos_injected=injector.injected if injector else 0,
        seconds=time.perf_counter() - start,
    )
    (out / "elicit.json").write_text(json.dumps(elicited.to_json(), indent=1, allow_nan=False, default=str))
    if result is not None:
        write_html(result, out / "report.html")
    return elicited


def _pooled(cells: dict[str, dict[str, float]]) -> dict[str, float]:
    """split -> accuracy with the conditions pooled (the cells are balanced: the mean of the cues)."""
    return {split: sum(by_cue.values()) / len(by_cue) for split, by_cue in cells.items()}


def _interleave(a: list[Any], b: list[Any]) -> list[Any]:
    """`a` and `b` merged so that `b`'s items are spread evenly through `a`."""
    keyed = [((i + 0.5) / len(a), x) for i, x in enumerate(a)] + [
        ((j + 0.5) / len(b), y) for j, y in enumerate(b)
    ]
    return [x for _, x in sorted(keyed, key=lambda kx: kx[0])]
