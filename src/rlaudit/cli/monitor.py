"""`rlaudit monitor`: judge RL training runs from their rollout logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import app, fail


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
def monitor(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Rollout logs, one run each: a JSONL file, a TRL output_dir or completions/ folder, a verl "
            "rollout_data_dir, or a TRL checkpoint (metrics only). Several runs that differ in reward "
            "configuration also get the invariance check. Default: the example log shipped with rlaudit.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, jsonl, trl, verl or trl-state.", show_default=True)
    ] = "auto",
    store: Annotated[
        Path | None,
        typer.Option(
            help="Keep the rollouts in this store directory (append-only; re-runs add only new rows)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the summary.")
    ] = False,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    reward_weights: Annotated[
        str | None,
        typer.Option(
            help="TRL logs with several reward columns: weights as name=w,... (default: plain sum)."
        ),
    ] = None,
    detectors: Annotated[
        str | None, typer.Option(help="Comma-separated detectors to run (default: all).")
    ] = None,
) -> None:
    """Judge RL training runs from their rollout logs: verdict, findings, report, exit code."""
    from rlaudit.detectors import DETECTORS, DetectorConfig
    from rlaudit.monitor import EXAMPLE_LOG, MonitorConfig, run_monitor
    from rlaudit.records import RecordError, RolloutStore
    from rlaudit.report import print_summary, to_summary, write_html

    weights = _parse_weights(reward_weights)
    enabled = tuple(d.strip() for d in detectors.split(",")) if detectors else None
    if enabled and set(enabled) - set(DETECTORS):
        raise fail(
            f"--detectors: unknown {sorted(set(enabled) - set(DETECTORS))}; choose from {sorted(DETECTORS)}"
        )
    config = MonitorConfig(detectors=DetectorConfig(enabled=enabled))
    inputs = list(paths) if paths else [EXAMPLE_LOG]
    try:
        result = run_monitor(
            inputs,
            store=RolloutStore(store) if store else None,
            fmt=fmt,
            reward_weights=weights,
            config=config,
        )
    except RecordError as e:
        raise fail(str(e)) from None
    if html is not None:
        write_html(result, html)
    if as_json:
        typer.echo(json.dumps(to_summary(result), allow_nan=False))
    else:
        from rich.console import Console

        print_summary(result, Console())
        if html is not None:
            typer.echo(f"report: {html}")
    raise typer.Exit(result.verdict.exit_code)
