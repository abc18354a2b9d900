"""`rlaudit elicit`: GRPO capability elicitation on a task's target split, monitored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import app, fail


@app.command()
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
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: runs/elicit-<model>-<seed>).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure, run GRPO on the target split with the monitor attached, measure again."""
    from rlaudit.training.elicit import ElicitConfig
    from rlaudit.training.elicit import elicit as run_elicit

    try:
        cfg = ElicitConfig(
            task=task, steps=steps, seed=seed, mitigation=mitigation, learning_rate=learning_rate
        )
    except ValueError as e:
        raise fail(str(e)) from None
    out = out or Path("runs") / f"elicit-{Path(model).name}-{mitigation}-{seed}"
    try:
        result = run_elicit(model, out, cfg)
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise fail(str(e).strip("'\"")) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), default=str))
    else:
        typer.echo(f"before: {result.before}")
        typer.echo(f"after:  {result.after}")
        typer.echo(f"first flagged at step: {result.first_flag_step}; verdict: {result.verdict}")
        typer.echo(f"outputs: {out}/elicit.json, {out}/report.html, {out}/store")
