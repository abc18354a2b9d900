"""`rlaudit monitor`: judge RL training runs from their rollout logs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaudit.cli import HtmlOption, JsonOption, app, check_html_path, emit, fail, guarded, quiet_stdout
from rlaudit.cli import judge_options as jo

if TYPE_CHECKING:  # the CLI imports lazily: `rlaudit --help` stays fast
    from rlaudit.monitor import MonitorConfig


def _parse_weights(spec: str | None) -> dict[str, float] | None:
    if not spec:
        return None
    weights = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise fail(f"--reward-weights: expected name=number[,name=number...], got '{part}'") from None
    return weights


@app.command()
@guarded
def monitor(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Rollout logs, one run each: a JSONL file, a TRL output_dir or completions/ folder, a verl "
            "rollout_data_dir, an Inspect AI .eval log or a folder of them, or a TRL checkpoint (metrics only). Several runs that differ in reward "
            "configuration also get the invariance check. Default: the example log shipped with rlaudit "
            "(or, with --store, what the store already holds).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="auto, jsonl, trl, verl, swift, trl-state or inspect.", show_default=True
        ),
    ] = "auto",
    store: Annotated[
        Path | None,
        typer.Option(
            help="Keep the rollouts in this store directory (append-only; re-runs add only new rows). "
            "With no input, read the store back (as `rlaudit show`)."
        ),
    ] = None,
    as_json: JsonOption = False,
    html: HtmlOption = None,
    reward_weights: Annotated[
        str | None,
        typer.Option(
            help="TRL logs with several reward columns: weights as name=w,... (default: plain sum)."
        ),
    ] = None,
    detectors: Annotated[
        str | None, typer.Option(help="Comma-separated detectors to run (default: all).")
    ] = None,
    unmatched_splits: Annotated[
        bool,
        typer.Option(
            "--unmatched-splits",
            help="The target prompts are harder than control by design (not matched in difficulty): "
            "findings that compare target with control are at most MEDIUM.",
        ),
    ] = False,
    series_points: Annotated[
        int | None,
        typer.Option(
            help="Per-step series in the JSON and the report: at most this many points each (a longer "
            "run keeps every k-th step and its last; the detectors read every step); 0: every step. "
            "Default: MonitorConfig.series_points (5,000).",
            show_default=False,
        ),
    ] = None,
    judge_model: jo.JudgeModelOption = None,
    judge_url: jo.JudgeUrlOption = None,
    judge_key_env: jo.JudgeKeyEnvOption = None,
    judge_view: jo.JudgeViewOption = "cot",
    judge_scoring: jo.JudgeScoringOption = "generated",
    judge_budget: jo.JudgeBudgetOption = 32,
    judge_answer: jo.JudgeAnswerOption = "last-line",
    judge_cache: jo.JudgeCacheOption = None,
    judge_concurrency: jo.JudgeConcurrencyOption = 4,
    judge_timeout: jo.JudgeTimeoutOption = 60.0,
) -> None:
    """Judge RL training runs from their rollout logs: verdict, findings, report, exit code."""
    from rlaudit.monitor import EXAMPLE_LOG, run_monitor
    from rlaudit.records import RecordError, RolloutStore

    weights = _parse_weights(reward_weights)
    config = monitor_config(detectors)
    config.splits_matched = not unmatched_splits
    if series_points is not None:
        if series_points < 0:
            raise fail(f"--series-points: expected 0 (every step) or a positive count, got {series_points}")
        config.series_points = series_points
    config.judge = jo.judge_config(
        model=judge_model,
        url=judge_url,
        key_env=judge_key_env,
        view=judge_view,
        scoring=judge_scoring,
        budget=judge_budget,
        answer=judge_answer,
        cache=judge_cache,
        store=store,
        concurrency=judge_concurrency,
        timeout_s=judge_timeout,
    )
    check_html_path(html)
    if not paths and store is not None:
        from rlaudit.cli.show import show_store

        show_store(store, config=config, as_json=as_json, html=html)
    inputs = list(paths) if paths else [EXAMPLE_LOG]
    try:
        with quiet_stdout(as_json):
            result = run_monitor(
                inputs,
                store=RolloutStore(store, create=False) if store else None,
                fmt=fmt,
                reward_weights=weights,
                config=config,
            )
    except RecordError as e:
        raise fail(str(e)) from None
    emit(result.to_json(), as_json=as_json, html=html)


def monitor_config(detectors: str | None) -> MonitorConfig:
    """The monitor's config with the `--detectors` choice (unknown names are bad input)."""
    from rlaudit.detectors import DETECTORS, DetectorConfig
    from rlaudit.monitor import MonitorConfig

    enabled = tuple(d.strip() for d in detectors.split(",") if d.strip()) if detectors else None
    if enabled and set(enabled) - set(DETECTORS):
        raise fail(
            f"--detectors: unknown {sorted(set(enabled) - set(DETECTORS))}; choose from {sorted(DETECTORS)}"
        )
    return MonitorConfig(detectors=DetectorConfig(enabled=enabled))
