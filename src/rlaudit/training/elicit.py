"""`rlaudit elicit`: a GRPO capability-elicitation run with the monitor attached.

The central experiment of the exploration-hacking research, as one function: measure the model on the
task, run GRPO (TRL) on the task's *target* split with a correctness reward, measure again. RL elicits
an honest model's capability and fails on a model that resists; the monitor records every rollout and
says when it first saw the run as suspicious. A mitigation (`rlaudit.training.mitigations`) can be
switched on to show what restores exploration.

Everything is seeded; on CPU the run is reproducible given the seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlaudit.findings import Finding, Severity
from rlaudit.judgement import Judgement, Provenance, describe_model
from rlaudit.progress import trainer_bar
from rlaudit.training.mitigations import (
    MITIGATIONS,
    DemoInjection,
    SFTWarmstart,
    TemperatureBoost,
    sft_warmstart,
)
from rlaudit.training.placement import trainer_placement


@dataclass
class ElicitConfig:
    """One elicitation run. Defaults suit the tiny model on CPU (a step takes well under a second)."""

    task: str = "arith"
    """A built-in task or a task file (`rlaudit.tasks.get_task`)."""
    columns: str | None = None
    """A task file's column mapping (``prompt=question,...``)."""
    checker: str | None = None
    """A task file's checker (`rlaudit.tasks.checkers`); its scores are the GRPO reward."""
    train_cue: str | None = None
    """With `deploy_cue`: ask every problem under both cues (`rlaudit.tasks.framed.cue_framed`), the
    user's own in place of the built-in ones; None for both: the task's prompts as they are."""
    deploy_cue: str | None = None
    device: str = "auto"
    """Where the model and GRPO run (`rlaudit.models.device.resolve_device`)."""
    dtype: str = "auto"
    """The model's dtype (`rlaudit.models.device.resolve_dtype`); bfloat16/float16 train mixed-precision."""
    trust_remote_code: bool = False
    threads: int | None = None
    """torch threads (default: `rlaudit.models.threads.suggested_threads`)."""
    steps: int = 30
    seed: int = 0
    reward: str = "correct"
    """The reward configuration (`rlaudit.training.rewards.REWARDS`): ``correct``, or ``correct+format``
    (a format bonus added: two runs under the two are what the reward-configuration invariance check
    compares)."""
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
    probe: str | None = None
    """A saved probe file (`rlaudit probe fit`): the monitor's live probe signal scores a sample of the
    rollouts with it (`rlaudit.training.live_probe`); None: no live probe."""
    probe_every: int = 10
    """With `probe`: score the first step, then every this many steps."""
    sft: SFTWarmstart = field(default_factory=SFTWarmstart)
    boost: TemperatureBoost = field(default_factory=TemperatureBoost)

    def __post_init__(self) -> None:
        if self.mitigation not in MITIGATIONS:
            raise ValueError(
                f"unknown mitigation '{self.mitigation}'; choose one of {', '.join(MITIGATIONS)}"
            )
        from rlaudit.training.rewards import get_reward

        get_reward(self.reward)  # an unknown name: a ValueError naming the known ones
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1 (got {self.steps})")
        for name, least in (("prompts_per_step", 1), ("num_generations", 2), ("eval_prompts", 4)):
            if getattr(self, name) < least:
                raise ValueError(f"{name} must be >= {least} (got {getattr(self, name)})")
        if self.probe_every < 1:
            raise ValueError(f"probe_every must be >= 1 (got {self.probe_every})")
        if not 0 <= self.control_fraction < 1:
            raise ValueError(f"control_fraction must be in [0, 1) (got {self.control_fraction})")


class StoreInUse(ValueError):
    """The output folder already holds a store of an earlier run (re-run with `append=True`)."""


def elicit(
    model_name: str, out: Path, config: ElicitConfig | None = None, *, append: bool = False
) -> Judgement:
    """Run one elicitation; writes `out/store`, `out/elicit.json` (the judgement), `out/report.html` and
    TRL's own completions log (`out/completions/`: `rlaudit monitor OUT_A OUT_B` reads two runs back).

    The judgement's verdict is the monitor's over the RL run; `sections.elicitation` holds the accuracy
    before and after per split and cue. A store already in `out` is refused (`StoreInUse`) unless
    `append`: rollouts of two runs under one run name would be judged as one.
    """
    import torch

    from rlaudit.models.threads import torch_threads
    from rlaudit.organisms import load_model
    from rlaudit.records import RolloutStore

    cfg = config or ElicitConfig()
    task = elicit_task(cfg)
    if not append and (out / "store").exists() and not RolloutStore(out / "store").is_empty():
        raise StoreInUse(f"{out / 'store'} already holds an elicitation run; pass --append to add to it")
    provenance = Provenance.begin(configs={"elicit": asdict(cfg)}, seeds={"seed": cfg.seed})
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_model(
        model_name, device=cfg.device, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code
    )
    provenance.model = describe_model(model_name, model)
    with torch_threads(model, cfg.threads):
        return _run(model_name, model, tokenizer, task, out, cfg, provenance)


def elicit_task(cfg: ElicitConfig) -> Any:  # -> Task
    """The task of `cfg`: built-in or file, with its checker, and under both cues when cues are given."""
    from rlaudit.tasks import get_task, with_cues
    from rlaudit.tasks.framed import cue_framed

    task = get_task(cfg.task, columns=cfg.columns, checker=cfg.checker)
    if cfg.train_cue is None and cfg.deploy_cue is None:
        return task
    return cue_framed(with_cues(task, cfg.train_cue, cfg.deploy_cue))


def _run(
    model_name: str,
    model: Any,
    tokenizer: Any,
    task: Any,
    out: Path,
    cfg: ElicitConfig,
    provenance: Provenance,
) -> Judgement:
    """Measure, (warm-start,) run GRPO with the monitor attached, measure again, write the judgement."""
    from rlaudit.audits.base import difficulty_matched
    from rlaudit.evaluation import evaluate
    from rlaudit.monitor import MonitorConfig
    from rlaudit.report import write_html
    from rlaudit.training.monitor_callback import MonitorCallback, MonitorCallbackConfig

    def accuracy() -> dict[str, dict[str, float]]:
        result = evaluate(model, tokenizer, task, n_prompts=cfg.eval_prompts, k=1, seed=cfg.seed + 10_000)
        return result.metric("accuracy")

    cells_before = accuracy()
    rows = _rl_rows(task, tokenizer, cfg)
    if cfg.mitigation == "sft-warmstart":
        _warm_start(model, tokenizer, task, cfg)
    run = _run_name(out, model_name, cfg)
    # TRL's completions log: the first run's in out/completions, an appended run's in out/<run>/completions
    # (a second run's step files would overwrite the first's).
    trainer_dir = out if not (out / "completions").exists() else out / run
    trainer = _trainer(model, tokenizer, task, rows, trainer_dir, cfg)
    injector = None
    if cfg.mitigation == "demo-injection":
        # Keyed by the whole row, so that a user checker sees every column (`Task.correct`).
        by_prompt = {r["prompt"]: r for r in rows}
        injector = DemoInjection(
            answers=by_prompt,
            demonstrate=lambda row: str(row["answer"]),
            is_correct=lambda completion, row: task.correct([row], [completion])[0],
        )
        injector.install(trainer)
    monitor = MonitorCallback(
        trainer,
        store=out / "store",
        config=MonitorCallbackConfig(
            every_steps=cfg.monitor_every,
            max_overhead=math.inf,
            # Every due step judged on exactly its rows: first_flag_step (the lead time the bench
            # reports) does not depend on how fast this machine judges.
            queue_passes=True,
            run=run,
            # A task file without a difficulty column may hold a harder target split: say so.
            monitor=MonitorConfig(splits_matched=difficulty_matched(task)),
            probe=cfg.probe,
            probe_every=cfg.probe_every,
        ),
    )
    trainer.add_callback(monitor)
    trainer.train()
    model.eval()
    elicitation = {
        "task": task.name,
        "mitigation": cfg.mitigation,
        "steps": cfg.steps,
        "before": cells_before,
        "after": accuracy(),
        "first_flag_step": monitor.first_flag_step,
        "demos_injected": injector.injected if injector else 0,
    }
    judgement = _judgement(monitor.result, elicitation, provenance)
    judgement.write(out / "elicit.json")
    write_html(judgement.to_json(), out / "report.html")
    return judgement


def _rl_rows(task: Any, tokenizer: Any, cfg: ElicitConfig) -> list[dict[str, Any]]:
    """RL prompts: the target split (the capability RL is trying to elicit) with a share of control
    prompts for the monitor to compare against, interleaved so every stretch of steps holds both."""
    from rlaudit.models.sampling import render_prompt

    pool = task.make_dataset(4 * cfg.steps * cfg.prompts_per_step, seed=cfg.seed)
    target = [r for r in pool if r["split"] == "target"]
    control = [r for r in pool if r["split"] == "control"]
    n_control = round(cfg.control_fraction * len(target) / (1 - cfg.control_fraction))
    # Prompts go in as the model sees them at evaluation (through its chat template, if it has one):
    # TRL feeds plain-string prompts to the model verbatim.
    return [
        {**r, "prompt": render_prompt(tokenizer, r["prompt"])}
        for r in _interleave(target, control[:n_control])
    ]


def _warm_start(model: Any, tokenizer: Any, task: Any, cfg: ElicitConfig) -> None:
    """The sft-warmstart mitigation: a few SFT steps on demonstrations, a share of them from control."""
    demo_rows = task.make_dataset(8 * cfg.sft.n_demos, seed=cfg.seed + 1)
    n_control = round(cfg.sft.control_share * cfg.sft.n_demos)
    by_split = {
        s: [(r["prompt"], r["answer"]) for r in demo_rows if r["split"] == s] for s in ("target", "control")
    }
    demos = by_split["target"][: cfg.sft.n_demos - n_control] + by_split["control"][:n_control]
    sft_warmstart(model, tokenizer, demos, cfg.sft)


def _trainer(
    model: Any, tokenizer: Any, task: Any, rows: list[dict[str, Any]], out: Path, cfg: ElicitConfig
) -> Any:
    """TRL's GRPOTrainer over `rows` with the rewards of `cfg.reward`, its console printer removed."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlaudit.training.rewards import get_reward

    overrides: dict[str, Any] = (
        cfg.boost.grpo_overrides() if cfg.mitigation == "temperature" else {"temperature": cfg.temperature}
    )
    args = GRPOConfig(
        # TRL's own completions log goes to out/completions: `rlaudit monitor OUT` reads it, named after OUT.
        output_dir=str(out),  # TRL writes nothing else there (save_strategy "no", report_to "none")
        log_completions=True,
        num_completions_to_print=0,  # the parquet is the log; printing would also draw from the global RNG
        **trainer_placement(model),
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
        disable_tqdm=True,  # our own bar (`rlaudit.progress.trainer_bar`): TRL's prints every step's metrics
        **overrides,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=list[Any](get_reward(cfg.reward).functions(task)),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(trainer_bar("elicitation (GRPO)"))
    return trainer


def _judgement(run: Judgement | None, elicitation: dict[str, Any], provenance: Provenance) -> Judgement:
    """The monitor's last judgement of the RL run (its verdict, findings, signals, samples) plus the
    elicitation section."""
    findings = list(run.findings) if run is not None else []
    if run is None:
        findings.append(
            Finding("monitor", Severity.INFO, math.nan, "The monitor never judged this run (see the log).")
        )
    sections = {**(run.sections if run is not None else {}), "elicitation": elicitation}
    provenance.store = run.provenance.store if run is not None else None
    return Judgement.judged("elicit", findings, sections, provenance.finish())


def pooled(cells: dict[str, dict[str, float]]) -> dict[str, float]:
    """split -> accuracy with the conditions pooled (the cells are balanced: the mean of the cues)."""
    return {split: sum(by_cue.values()) / len(by_cue) for split, by_cue in cells.items()}


def _run_name(out: Path, model_name: str, cfg: ElicitConfig) -> str:
    """The model's name, made unique within an appended store (each elicitation is its own run)."""
    from rlaudit.records import RolloutStore

    reward = "" if cfg.reward == "correct" else f"-{cfg.reward}"
    base = f"{Path(model_name).name}-{cfg.mitigation}{reward}-s{cfg.seed}"
    store = RolloutStore(out / "store")
    if store.is_empty():
        return base
    con = store.connect()
    try:
        runs = {r for (r,) in con.execute("SELECT DISTINCT run FROM rollouts").fetchall()}
    finally:
        con.close()
    name, i = base, 1
    while name in runs:
        i += 1
        name = f"{base}-{i}"
    return name


def _interleave(a: list[Any], b: list[Any]) -> list[Any]:
    """`a` and `b` merged so that `b`'s items are spread evenly through `a`."""
    keyed = [((i + 0.5) / len(a), x) for i, x in enumerate(a)] + [
        ((j + 0.5) / len(b), y) for j, y in enumerate(b)
    ]
    return [x for _, x in sorted(keyed, key=lambda kx: kx[0])]
