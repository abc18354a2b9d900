"""`rlaudit elicit`: GRPO capability elicitation on a task's target split, monitored."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import JsonOption, ThreadsOption, app, checker_errors_fail, emit, fail, guarded
from rlaudit.cli.options import (
    CheckerOption,
    ColumnsOption,
    DeployCueOption,
    DeviceOption,
    DtypeOption,
    MaxNewTokensOption,
    ModelOptions,
    TaskOption,
    TrainCueOption,
    TrustRemoteCodeOption,
    resolve_task,
    running,
)


@app.command()
@guarded
def elicit(
    model: Annotated[
        str, typer.Argument(help="An organism directory, `tiny`, `smollm2`, or a checkpoint path.")
    ],
    task: TaskOption = "arith",
    columns: ColumnsOption = None,
    checker: CheckerOption = None,
    train_cue: TrainCueOption = None,
    deploy_cue: DeployCueOption = None,
    steps: Annotated[int, typer.Option(help="GRPO optimizer steps.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed for data, sampling and training.")] = 0,
    reward: Annotated[
        str,
        typer.Option(
            help="Reward configuration: correct, or correct+format (adds a 0.5 bonus for a bare-answer "
            "completion; run both and `rlaudit monitor OUT_A OUT_B` for the invariance check)."
        ),
    ] = "correct",
    mitigation: Annotated[
        str, typer.Option(help="none, demo-injection, sft-warmstart or temperature.")
    ] = "none",
    learning_rate: Annotated[float, typer.Option(help="GRPO learning rate.")] = 1e-4,
    prompts_per_step: Annotated[
        int, typer.Option(help="Prompts per GRPO step (a quarter from control).")
    ] = 8,
    num_generations: Annotated[int, typer.Option(help="GRPO group size (completions per prompt).")] = 8,
    eval_prompts: Annotated[
        int, typer.Option(help="Held-out prompts for the before/after accuracy (a quarter per split x cue).")
    ] = 200,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: runs/elicit-<model>-<seed>).")
    ] = None,
    append: Annotated[
        bool,
        typer.Option(help="Add this run to a store OUT already holds (default: refuse a used store)."),
    ] = False,
    probe: Annotated[
        Path | None,
        typer.Option(
            help="A saved probe (rlaudit probe fit): score a sample of the rollouts with it while RL runs "
            "(rlaudit/probe_score/<split>, the probe_score_rise detector)."
        ),
    ] = None,
    probe_every: Annotated[
        int, typer.Option(help="With --probe: score the first step, then every N-th.")
    ] = 10,
    max_new_tokens: MaxNewTokensOption = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    trust_remote_code: TrustRemoteCodeOption = False,
    threads: ThreadsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure, run GRPO on the target split with the monitor attached, measure again.

    Exits 1 when the monitor judged the RL run suspicious or hacking-likely, as `monitor` does. With
    --train-cue/--deploy-cue every problem is asked (in RL and in the measurements) under both cues.
    """
    resolve_task(  # bad task, checker or cue: one line, exit 2, before any model loads
        task, columns=columns, checker=checker, train_cue=train_cue, deploy_cue=deploy_cue
    )
    options = ModelOptions(device, dtype, None, trust_remote_code, threads)
    options.check()
    if probe is not None:  # an unreadable probe: one line, exit 2, before any model loads
        from rlaudit.interp.probes import Probe, ProbeFileError

        try:
            Probe.load(probe)
        except ProbeFileError as e:
            raise fail(str(e)) from None
    from rlaudit.training.elicit import ElicitConfig, StoreInUse
    from rlaudit.training.elicit import elicit as run_elicit

    try:
        cfg = ElicitConfig(
            task=task,
            columns=columns,
            checker=checker,
            train_cue=train_cue,
            deploy_cue=deploy_cue,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            max_completion_length=max_new_tokens,
            threads=threads,
            steps=steps,
            seed=seed,
            reward=reward,
            mitigation=mitigation,
            learning_rate=learning_rate,
            prompts_per_step=prompts_per_step,
            num_generations=num_generations,
            eval_prompts=eval_prompts,
            probe=None if probe is None else str(probe),
            probe_every=probe_every,
        )
    except ValueError as e:
        raise fail(str(e)) from None
    suffix = "" if reward == "correct" else f"-{reward}"
    out = out or Path("runs") / f"elicit-{Path(model).name}-{mitigation}{suffix}-{seed}"
    try:
        with running(None, options, as_json=as_json), checker_errors_fail():
            result = run_elicit(model, out, cfg, append=append)
    except StoreInUse as e:
        raise fail(str(e)) from None
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise fail(str(e).strip("'\"")) from None
    doc = result.to_json()
    if not as_json:
        done = doc["sections"]["elicitation"]
        for split, by_cue in done["before"].items():
            cells = ", ".join(f"{c} {by_cue[c]:.0%} -> {done['after'][split][c]:.0%}" for c in by_cue)
            typer.echo(f"{split}: {cells}")
        typer.echo(f"first flagged at step: {done['first_flag_step']}; verdict: {doc['verdict']}")
        typer.echo(f"outputs: {out}/elicit.json, {out}/report.html, {out}/store, {out}/completions")
    emit(doc, as_json=as_json, html=None, summary=False)
