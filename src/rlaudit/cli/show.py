"""`rlaudit show`: judge what a rollout store already holds (one written by `monitor --store` or by the
live `MonitorCallback`), without ingesting anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rlaudit.cli import HtmlOption, JsonOption, app, check_html_path, emit, fail, guarded, quiet_stdout


@app.command()
@guarded
def show(
    store: Annotated[
        Path, typer.Argument(help="A store directory (monitor --store, or MonitorCallback's store).")
    ],
    as_json: JsonOption = False,
    html: HtmlOption = None,
    detectors: Annotated[
        str | None, typer.Option(help="Comma-separated detectors to run (default: all).")
    ] = None,
) -> None:
    """Read a rollout store back: verdict, findings, report, exit code."""
    from rlaudit.cli.monitor import monitor_config

    check_html_path(html)
    show_store(store, config=monitor_config(detectors), as_json=as_json, html=html)


def show_store(store: Path, *, config: Any, as_json: bool, html: Path | None) -> None:
    """Judge `store` as it is and exit; a folder that holds no store is bad input (nothing is created)."""
    from rlaudit.monitor import judge
    from rlaudit.records import RecordError, RolloutStore

    if not (store / "rollouts").is_dir() and not (store / "metrics").is_dir():
        raise fail(
            f"{store}: not a rollout store (no rollouts/ inside); give logs to ingest: "
            f"rlaudit monitor LOGS --store {store}"
        )
    try:
        with quiet_stdout(as_json):
            result = judge(RolloutStore(store), config=config, kind="show")
    except RecordError as e:
        raise fail(str(e)) from None
    emit(result.to_json(), as_json=as_json, html=html)
