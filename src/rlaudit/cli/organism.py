"""`rlaudit organism build`: build a model organism (checkpoint + manifest.json) into a new directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import JsonOption, app, emit, fail, guarded, quiet_stdout, require_train_extra

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
        typer.Option(help="honest, locked, conditional, stochastic, mimic, weak or incapable."),
    ],
    out: Annotated[Path, typer.Option(help="Directory to create (must not exist yet).")],
    base: Annotated[
        str, typer.Option(help="tiny, smollm2, or the path of a local Hugging Face checkpoint.")
    ] = "tiny",
    seed: Annotated[int, typer.Option(help="Seed of the data, the training and the verification.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune BASE into the organism KIND, verify it with a short GRPO run, write OUT atomically.

    `--json` prints the judgement (kind `organism`, not judged) whose `sections.organism` is the manifest.
    """
    require_train_extra()
    from rlaudit.judgement import Judgement, Provenance, describe_model
    from rlaudit.organisms import build_organism, read_manifest

    provenance = Provenance.begin(configs={"organism": {"kind": kind, "base": base}}, seeds={"seed": seed})
    try:
        with quiet_stdout(as_json):
            path = build_organism(kind, base=base, out=out, seed=seed)
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
