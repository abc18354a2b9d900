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
    load_or_fail,
    quiet_stdout,
    require_train_extra,
    task_or_fail,
)

if TYPE_CHECKING:  # the CLI imports lazily: `rlaudit --help` stays fast
    from rich.table import Table

    from rlaudit.evaluation import EvalResult


@app.command("eval")
@guarded
def eval_(
    model: ModelArgument,
    task: Annotated[
        str,
        typer.Option(
            help="Task to evaluate on: arith, mcq, or a task file or folder (JSONL, CSV, Parquet, datasets) "
            "with columns prompt, answer, split (target|control) and optional id, choices, condition."
        ),
    ] = "arith",
    columns: Annotated[
        str | None,
        typer.Option(
            help="Rename a task file's columns: prompt=question,answer=label,...", show_default=False
        ),
    ] = None,
    checker: Annotated[
        str | None,
        typer.Option(
            help="Score a task file with: exact, numeric, choice, contains, regex:PATTERN, "
            "path/to/file.py:function or package.module:function (a TRL reward function; > 0.5 is "
            "correct). Default: choice with choices, numeric when every answer is a number, else exact.",
            show_default=False,
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Prompts, balanced over split x condition.")] = 200,
    k: Annotated[int, typer.Option("--k", help="k of pass@k (k samples per prompt).")] = 8,
    temperature: Annotated[float, typer.Option(help="Sampling temperature for pass@k and entropy.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the prompts and the samples.")] = 0,
    difficulty: Annotated[
        int | None, typer.Option(help="Largest operand (default: the task's, 9).", show_default=False)
    ] = None,
    max_new_tokens: Annotated[
        int | None,
        typer.Option(help="Completion budget in tokens (default: the task's).", show_default=False),
    ] = None,
    threads: ThreadsOption = None,
    as_json: JsonOption = False,
    html: HtmlOption = None,
) -> None:
    """Evaluate a model on a task: greedy accuracy per split x condition (Wilson 95% CI), pass@k, entropy."""
    require_train_extra()
    chosen = task_or_fail(task, columns=columns, checker=checker)
    at_least(("--n", n, 1), ("--k", k, 1), ("--max-new-tokens", max_new_tokens, 1), ("--threads", threads, 1))
    at_least(("--difficulty", difficulty, 1))
    if difficulty is not None and chosen.default_difficulty is None:
        raise fail(f"--difficulty: task file {task} has no difficulty; leave --difficulty out")
    if not temperature >= 0:
        raise fail(f"--temperature must be >= 0 (0 = greedy), got {temperature}")

    check_html_path(html)

    from rlaudit.evaluation import evaluate
    from rlaudit.judgement import Judgement, Provenance, describe_model
    from rlaudit.models.threads import torch_threads

    options = {"task": task, "n": n, "k": k, "temperature": temperature, "difficulty": difficulty}
    options |= {"columns": columns, "checker": chosen.checker}
    options |= {"max_new_tokens": max_new_tokens, "threads": threads}
    provenance = Provenance.begin(configs={"eval": options}, seeds={"seed": seed})
    lm, tokenizer = load_or_fail(model, quiet=as_json)
    provenance.model = describe_model(model, lm)
    if chosen.chat and not getattr(tokenizer, "chat_template", None):
        raise fail(f"--task: {task} has chat message prompts and the model's tokenizer has no chat template")
    with torch_threads(lm, threads), quiet_stdout(as_json), checker_errors_fail():
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
