"""The ``--judge-*`` options of `rlaudit monitor`: a transcript judge over a sample of the rollouts
(`rlaudit.judges`). Defined here, beside the function that turns them into a `JudgeConfig`, so the
monitor verb only lists them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaudit.cli import fail

if TYPE_CHECKING:
    from rlaudit.judges import JudgeConfig

JudgeModelOption = Annotated[
    str | None,
    typer.Option(
        help="Judge the rollouts' text with this model: the name an endpoint serves (with --judge-url), "
        "or in process: smollm2, tiny or a local checkpoint directory.",
        show_default=False,
    ),
]
JudgeUrlOption = Annotated[
    str | None,
    typer.Option(
        help="An OpenAI-compatible endpoint for the judge, e.g. http://127.0.0.1:8080/v1 (vLLM, SGLang, "
        "llama.cpp server, a hosted API).",
        show_default=False,
    ),
]
JudgeKeyEnvOption = Annotated[
    str | None,
    typer.Option(
        help="Name of the environment variable holding the endpoint's API key (the key is never read "
        "from a file nor logged).",
        show_default=False,
    ),
]
JudgeViewOption = Annotated[
    str, typer.Option(help="cot: prompt + full completion; action: prompt + final answer only.")
]
JudgeBudgetOption = Annotated[
    int, typer.Option(help="Rollouts judged per window of 10 steps, shared among the splits, failures first.")
]
JudgeScoringOption = Annotated[
    str,
    typer.Option(
        help="generated: the 0-10 score the judge writes; probability: 10 x P(yes) of a yes/no question, "
        "from the judge's token probabilities (ranks better with a small judge; the endpoint must "
        "return logprobs)."
    ),
]
JudgeAnswerOption = Annotated[
    str,
    typer.Option(
        help="How the action view finds the final answer: last-line, regex:PATTERN, or a task's own "
        "parser (arith, mcq)."
    ),
]
JudgeCacheOption = Annotated[
    Path | None,
    typer.Option(
        help="The judge's reply cache (sqlite). Default: judge_cache.sqlite in --store, else in the "
        "rlaudit cache directory.",
        show_default=False,
    ),
]
JudgeConcurrencyOption = Annotated[int, typer.Option(help="Judge requests in flight at once (endpoint).")]
JudgeTimeoutOption = Annotated[
    float, typer.Option(help="Seconds per judge request and try; the client retries twice with back-off.")
]


def judge_config(
    *,
    model: str | None,
    url: str | None,
    key_env: str | None,
    view: str,
    budget: int,
    scoring: str = "generated",
    answer: str,
    cache: Path | None,
    store: Path | None,
    concurrency: int,
    timeout_s: float,
) -> JudgeConfig | None:
    """The judge the options ask for (None when --judge-model is not given); any bad value is bad input."""
    if model is None:
        if url is not None or key_env is not None:
            raise fail("--judge-url/--judge-key-env: name the judge model with --judge-model")
        return None
    # Imported only when a judge is asked for: `rlaudit.models` imports torch and transformers (5 CPU-s,
    # 230 MB), most of what a plain `rlaudit monitor` on a small log cost.
    from rlaudit.judges import CACHE_FILE, JudgeConfig, SelectionConfig
    from rlaudit.models.cache import user_cache_dir

    if url is None and model not in ("smollm2", "tiny") and not Path(model).is_dir():
        raise fail(
            f"--judge-model: no directory {model} (in process: smollm2, tiny or a local checkpoint "
            "directory; for a served model give --judge-url too)"
        )
    if cache is None:
        cache = (store if store is not None else user_cache_dir()) / CACHE_FILE
    try:
        return JudgeConfig(
            model=model,
            url=url,
            key_env=key_env,
            view=view,
            scoring=scoring,
            answer=answer,
            cache=cache,
            concurrency=concurrency,
            timeout_s=timeout_s,
            selection=SelectionConfig(budget=budget),
        )
    except ValueError as e:
        raise fail(f"--judge: {e}") from None
