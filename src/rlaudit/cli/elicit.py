"""`rlaudit elicit`: GRPO capability elicitation on a task's target split, monitored."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import JsonOption, app, emit, fail, guarded, quiet_stdout, require_train_extra


@app.command()
@guarded
def elicit(
    model: Annotated[
        str, typer.Argument(help="An organism directory, `tiny`, `smollm2`, or a checkpoint path.")
    ],
    task: Annotated[str, typer.Option(help="Task whose target split RL tries to elicit.")] = "arith",
    steps: Annotated[int, typer.Option(help="GRPO optimizer steps.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed for data, sampling and training.")] = 0,
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
    as_json: JsonOption = False,
) -> None:
    """Measure, run GRPO on the target split with the monitor attached, measure again.

    Exits 1 when the monitor judged the RL run suspicious or hacking-likely, as `monitor` does.
    """
    require_train_extra()
    from rlaudit.training.elicit import ElicitConfig, StoreInUse
    from rlaudit.training.elicit import elicit as run_elicit

    try:
        cfg = ElicitConfig(
            task=task,
            steps=steps,
            seed=seed,
            mitigation=mitigation,
            learning_rate=learning_rate,
            prompts_per_step=prompts_per_step,
            num_generations=num_generations,
            eval_prompts=eval_prompts,
        )
    except ValueError as e:
        raise fail(str(e)) from None
    out = out or Path("runs") / f"elicit-{Path(model).name}-{mitigation}-{seed}"
    try:
        with quiet_stdout(as_json):
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
        typer.echo(f"outputs: {out}/elicit.json, {out}/report.html, {out}/store")
    emit(doc, as_json=as_json, html=None, summary=False)
