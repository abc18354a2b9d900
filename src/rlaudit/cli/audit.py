"""`rlaudit audit`: active checkpoint tests (context gap, noise sweep, SFT elicitation, pass@k ceiling)."""

from __future__ import annotations

from typing import Annotated

import typer

from rlaudit.cli import HtmlOption, JsonOption, app, check_html_path, emit, fail, guarded, quiet_stdout


@app.command()
@guarded
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
    as_json: JsonOption = False,
    html: HtmlOption = None,
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
    check_html_path(html)
    if reference is not None and "sft" not in names:
        raise fail("--reference is only used by the sft test; add sft to --tests")

    config = AuditConfig(seed=seed)
    if n is not None:
        for name in config:  # every audit's config has n_problems
            config[name] = dataclasses.replace(config[name], n_problems=n)

    from rlaudit.audits import run_audit
    from rlaudit.models.threads import torch_threads
    from rlaudit.organisms import load_model

    try:
        with quiet_stdout(as_json):
            lm, tokenizer = load_model(model)
            ref = load_model(reference) if reference is not None else None
    except (FileNotFoundError, ModuleNotFoundError, OSError, ValueError) as e:
        raise fail(f"cannot load model: {e}") from None
    try:
        with torch_threads(lm, threads), quiet_stdout(as_json):
            result = run_audit(lm, tokenizer, chosen, names, config, reference=ref, model_name=model)
    except ImportError as e:  # SFT elicitation needs peft (the train extra); the message says how to get it
        raise fail(str(e)) from None
    emit(result.to_json(), as_json=as_json, html=html)
