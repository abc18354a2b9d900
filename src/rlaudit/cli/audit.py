"""`rlaudit audit`: active checkpoint tests (context gap, noise sweep, SFT elicitation, pass@k ceiling)."""

from __future__ import annotations

from typing import Annotated

import typer

from rlaudit.cli import (
    HtmlOption,
    JsonOption,
    ModelArgument,
    ThreadsOption,
    app,
    at_least,
    check_html_path,
    emit,
    fail,
    guarded,
    load_or_fail,
    quiet_stdout,
    require_train_extra,
    task_or_fail,
)


@app.command()
@guarded
def audit(
    model: ModelArgument,
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
    threads: ThreadsOption = None,
) -> None:
    """Audit a checkpoint for exploration hacking: verdict, findings, report, exit code."""
    require_train_extra()
    import dataclasses

    from rlaudit.audits import AuditConfig, parse_tests

    chosen = task_or_fail(task)
    try:
        names = parse_tests(tests)
    except ValueError as e:
        raise fail(f"--tests: {e}") from None
    at_least(("--n", n, 1), ("--threads", threads, 1))
    check_html_path(html)
    if reference is not None and "sft" not in names:
        raise fail("--reference is only used by the sft test; add sft to --tests")

    config = AuditConfig(seed=seed)
    if n is not None:
        for name in config:  # every audit's config has n_problems
            config[name] = dataclasses.replace(config[name], n_problems=n)

    from rlaudit.audits import run_audit
    from rlaudit.models.threads import torch_threads

    lm, tokenizer = load_or_fail(model, quiet=as_json)
    ref = load_or_fail(reference, quiet=as_json) if reference is not None else None
    try:
        with torch_threads(lm, threads), quiet_stdout(as_json):
            result = run_audit(lm, tokenizer, chosen, names, config, reference=ref, model_name=model)
    except ImportError as e:  # SFT elicitation needs peft (the train extra); the message says how to get it
        raise fail(str(e)) from None
    emit(result.to_json(), as_json=as_json, html=html)
