"""`rlaudit organism build`: build a model organism (checkpoint + manifest.json) into a new directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rlaudit.cli import JsonOption, app, checker_errors_fail, emit, fail, guarded
from rlaudit.cli.options import (
    CheckerOption,
    ColumnsOption,
    DeployCueOption,
    DeviceOption,
    DtypeOption,
    MaxNewTokensOption,
    ModelOptions,
    TrainCueOption,
    TrustRemoteCodeOption,
    resolve_task,
    running,
)

organism_app = typer.Typer(
    name="organism",
    help="Model organisms: honest and RL-resistant models on which detectors are benchmarked.",
    no_args_is_help=True,
)
app.add_typer(organism_app)


@organism_app.command()
@guarded
def build(
    kind: Annotated[
        str,
        typer.Option(
            help="honest, locked, conditional, stochastic, mimic, weak, incapable, locked_verbal or locked_silent."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Directory to create (must not exist yet).")],
    base: Annotated[
        str,
        typer.Option(
            help="tiny, smollm2, or the path of a local Hugging Face checkpoint or PEFT adapter folder."
        ),
    ] = "tiny",
    task: Annotated[
        str | None,
        typer.Option(
            help="Train on this task alone: arith, mcq, or a task file or folder (kinds honest, locked, "
            "conditional). Default: the built-in tasks.",
            show_default=False,
        ),
    ] = None,
    columns: ColumnsOption = None,
    checker: CheckerOption = None,
    train_cue: TrainCueOption = None,
    deploy_cue: DeployCueOption = None,
    max_new_tokens: MaxNewTokensOption = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    trust_remote_code: TrustRemoteCodeOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the data, the training and the verification.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune BASE into the organism KIND, verify it with a short GRPO run, write OUT atomically.

    With --task, the organism learns its policy on that task's prompts, each under both cues (the
    conditional organism hides under --train-cue). `--json` prints the judgement (kind `organism`, not
    judged) whose `sections.organism` is the manifest.
    """
    task_options = (columns, checker, train_cue, deploy_cue, max_new_tokens)
    if task is None and any(v is not None for v in task_options):
        raise fail("--columns, --checker, --train-cue, --deploy-cue and --max-new-tokens need --task")
    chosen = None
    if task is not None:
        chosen = resolve_task(
            task,
            columns=columns,
            checker=checker,
            train_cue=train_cue,
            deploy_cue=deploy_cue,
            max_new_tokens=max_new_tokens,
        )
    options = ModelOptions(device, dtype, None, trust_remote_code, None)
    options.check()
    from rlaudit.judgement import Judgement, Provenance, describe_model
    from rlaudit.organisms import build_organism, read_manifest

    settings: dict[str, Any] = {"kind": kind, "base": base, "task": task, "columns": columns}
    settings |= {"checker": checker}
    settings |= {"train_cue": train_cue, "deploy_cue": deploy_cue, "max_new_tokens": max_new_tokens}
    provenance = Provenance.begin(configs={"organism": settings | options.to_dict()}, seeds={"seed": seed})
    try:
        with running(None, options, as_json=as_json), checker_errors_fail():
            path = build_organism(
                kind,
                base=base,
                out=out,
                seed=seed,
                task=chosen,
                device=device,
                dtype=dtype,
                trust_remote_code=trust_remote_code,
            )
    except (ValueError, ImportError, FileExistsError, FileNotFoundError) as e:  # incl. BuildError
        raise fail(str(e)) from None
    manifest = read_manifest(path)
    provenance.model = describe_model(str(path))
    doc = Judgement("organism", None, [], {"organism": manifest}, provenance.finish()).to_json()
    if as_json:
        emit(doc, as_json=True, html=None)
    typer.echo(f"{kind} organism written to {path} ({manifest['build_seconds']}s)")
    for task, result in manifest["eval"].items():
        acc = result["accuracy"]
        cells = ", ".join(f"{s}/{c} {acc[s][c]:.0%}" for s in acc for c in acc[s])
        typer.echo(f"  {task} greedy accuracy: {cells}")
    v = manifest["verification"]
    if v.get("steps"):
        typer.echo(
            f"  verification: {v['steps']} GRPO steps on {v['task']} target, accuracy "
            f"{v['target_accuracy_before']:.0%} -> {v['target_accuracy_after']:.0%} "
            f"({'resisted' if v['resisted'] else 'elicited'}, max gain {v['max_gain']:.0%})"
        )
    emit(doc, as_json=False, html=None, summary=False)
