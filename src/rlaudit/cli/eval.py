"""`rlaudit eval`: accuracy per split x condition, pass@k, entropy and diversity of a model on a task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from rlaudit.cli import (
    HtmlOption,
    JsonOption,
    ModelArgument,
    ThreadsOption,
    app,
    at_least,
    check_html_path,
    checker_errors_fail,
    emit,
    fail,
    guarded,
)
from rlaudit.cli.options import (
    BatchSizeOption,
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
    check_chat,
    load_model_or_fail,
    resolve_task,
    running,
)

if TYPE_CHECKING:  # the CLI imports lazily: `rlaudit --help` stays fast
    from rich.table import Table

    from rlaudit.evaluation import EvalResult


@app.command("eval")
@guarded
def eval_(
    model: ModelArgument,
    task: TaskOption = "arith",
    columns: ColumnsOption = None,
    checker: CheckerOption = None,
    train_cue: TrainCueOption = None,
    deploy_cue: DeployCueOption = None,
    n: Annotated[int, typer.Option("--n", help="Prompts, balanced over split x condition.")] = 200,
    k: Annotated[int, typer.Option("--k", help="k of pass@k (k samples per prompt).")] = 8,
    temperature: Annotated[float, typer.Option(help="Sampling temperature for pass@k and entropy.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the prompts and the samples.")] = 0,
    difficulty: Annotated[
        int | None, typer.Option(help="Largest operand (default: the task's, 9).", show_default=False)
    ] = None,
    max_new_tokens: MaxNewTokensOption = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    batch_size: BatchSizeOption = None,
    trust_remote_code: TrustRemoteCodeOption = False,
    threads: ThreadsOption = None,
    as_json: JsonOption = False,
    html: HtmlOption = None,
) -> None:
    """Evaluate a model on a task: greedy accuracy per split x condition (Wilson 95% CI), pass@k, entropy."""
    at_least(("--n", n, 1), ("--k", k, 1), ("--difficulty", difficulty, 1))
    chosen = resolve_task(
        task,
        columns=columns,
        checker=checker,
        train_cue=train_cue,
        deploy_cue=deploy_cue,
        max_new_tokens=max_new_tokens,
        framed=True,
    )
    options = ModelOptions(device, dtype, batch_size, trust_remote_code, threads)
    options.check()
    if difficulty is not None and chosen.default_difficulty is None:
        raise fail(f"--difficulty: task file {task} has no difficulty; leave --difficulty out")
    if not temperature >= 0:
        raise fail(f"--temperature must be >= 0 (0 = greedy), got {temperature}")

    check_html_path(html)

    from rlaudit.evaluation import evaluate
    from rlaudit.judgement import Judgement, Provenance, describe_model

    settings = {"task": task, "n": n, "k": k, "temperature": temperature, "difficulty": difficulty}
    settings |= {"columns": columns, "checker": chosen.checker, "max_new_tokens": max_new_tokens}
    settings |= {"train_cue": train_cue, "deploy_cue": deploy_cue, **options.to_dict()}
    provenance = Provenance.begin(configs={"eval": settings}, seeds={"seed": seed})
    lm, tokenizer = load_model_or_fail(model, options, quiet=as_json)
    provenance.model = describe_model(model, lm)
    check_chat(chosen, tokenizer, task)
    with running(lm, options, as_json=as_json), checker_errors_fail():
        result = evaluate(
            lm,
            tokenizer,
            chosen,
            n_prompts=n,
            k=k,
            temperature=temperature,
            seed=seed,
            difficulty=difficulty,
            max_new_tokens=max_new_tokens,
            model_name=model,
        )
    judgement = Judgement("eval", None, [], {"evaluation": result.to_json()}, provenance.finish())
    if not as_json:
        from rich.console import Console

        Console().print(_table(result))
    emit(judgement.to_json(), as_json=as_json, html=html, summary=False)


def _table(result: EvalResult) -> Table:
    from rich.table import Table

    difficulty = "" if result.difficulty is None else f"difficulty {result.difficulty}, "
    table = Table(
        title=f"{result.model} on {result.task} ({difficulty}chance {result.chance:.0%})",
        caption=f"greedy accuracy with Wilson 95% CI; pass@{result.k}, entropy and distinct answers from "
        f"{result.n_samples} samples per prompt at T={result.temperature:g}; seed {result.seed}",
    )
    for header in ("split", "condition", "n", "accuracy (95% CI)", f"pass@{result.k}", "entropy", "distinct"):
        table.add_column(
            header, justify="left" if header in ("split", "condition") else "right", no_wrap=True
        )
    for split, condition in result.cells:
        cell = result.cells[split, condition]
        low, high = cell.ci
        table.add_row(
            split,
            condition,
            str(cell.n),
            f"{cell.accuracy:.1%} ({low:.0%}-{high:.0%})",
            f"{cell.pass_at_k:.1%}",
            f"{cell.entropy:.3f}",
            f"{cell.distinct_answers:.2f}",
        )
    return table
