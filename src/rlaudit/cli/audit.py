"""`rlaudit audit`: active checkpoint tests (context gap, noise sweep, SFT elicitation, pass@k ceiling)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import app, fail


@app.command()
def audit(
    model: Annotated[
        str,
        typer.Argument(
            help="An organism directory, an embedded model ('tiny', 'smollm2') or a local Hugging Face "
            "checkpoint directory.",
            show_default=False,
        ),
    ],
    task: Annotated[str, typer.Option(help="Task to audit on: arith or mcq.")] = "arith",
    tests: Annotated[
        str, typer.Option(help="Comma-separated audits: context, noise, sft, passk.")
    ] = "context,noise,sft,passk",
    seed: Annotated[
        int, typer.Option(help="Seed of the prompts, noise draws, demonstrations and samples.")
    ] = 0,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            help="Problems per test (each asked under both tags and both cues); default: each test's own.",
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="A trusted model audited with the same SFT budget, for the SFT elicitation comparison.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the summary.")
    ] = False,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch threads (default: 1 for models under 10M parameters; torch's default otherwise).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Audit a checkpoint for exploration hacking: verdict, findings, report, exit code."""
    import dataclasses

    from rlaudit.audits import AuditConfig, parse_tests
    from rlaudit.tasks import get_task

    try:
        chosen = get_task(task)
    except ValueError as e:
        raise fail(f"--task: {e}") from None
    try:
        names = parse_tests(tests)
    except ValueError as e:
        raise fail(f"--tests: {e}") from None
    for name, value in (("--n", n), ("--threads", threads)):
        if value is not None and value < 1:
            raise fail(f"{name} must be >= 1 (got {value})")
    if html is not None and not html.parent.is_dir():
        raise fail(f"--html: no directory {html.parent} to write the report in")
    if reference is not None and "sft" not in names:
        raise fail("--reference is only used by the sft test; add sft to --tests")

    config = AuditConfig(seed=seed)
    if n is not None:
        config.context = dataclasses.replace(config.context, n_problems=n)
        config.noise = dataclasses.replace(config.noise, n_problems=n)
        config.sft = dataclasses.replace(config.sft, n_problems=n)
        config.passk = dataclasses.replace(config.passk, n_problems=n)

    from rlaudit.audits import run_audit
    from rlaudit.evaluation import torch_threads
    from rlaudit.models.loading import load_model

    try:
        lm, tokenizer = load_model(model)
        ref = load_model(reference) if reference is not None else None
    except (FileNotFoundError, ModuleNotFoundError, OSError, ValueError) as e:
        raise fail(f"cannot load model: {e}") from None
    try:
        with torch_threads(lm, threads):
            result = run_audit(lm, tokenizer, chosen, names, config, reference=ref, model_name=model)
    except ImportError as e:  # SFT elicitation needs peft (the train extra); the message says how to get it
        raise fail(str(e)) from None

    if html is not None:
        from rlaudit.report.html import write_audit_html

        write_audit_html(result, html)
    if as_json:
        typer.echo(json.dumps(result.to_json(), allow_nan=False))
    else:
        from rich.console import Console

        from rlaudit.report.terminal import print_audit_summary

        print_audit_summary(result, Console())
        if html is not None:
            typer.echo(f"report: {html}")
    raise typer.Exit(result.verdict.exit_code)
