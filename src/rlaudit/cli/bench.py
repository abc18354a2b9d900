"""`rlaudit bench`: every detector and audit test scored on model organisms, out of sample."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rlaudit.cli import HtmlOption, JsonOption, app, check_html_path, emit, fail, guarded, require_train_extra
from rlaudit.cli.executor_options import RayAddressOption, RayOption, check_ray

if TYPE_CHECKING:
    from rich.table import Table


def _seeds(option: str, text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise fail(f"{option}: comma-separated integers expected (got {text!r})") from None
    if not seeds:
        raise fail(f"{option}: at least one seed")
    return seeds


@app.command("bench")
@guarded
def bench(
    out: Annotated[
        Path, typer.Option(help="Organisms and elicitation runs are kept (and reused) here.")
    ] = Path("bench"),
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="CI's preset: 5 kinds (honest_hard included), 40 problems per test, 15-step elicitation runs.",
        ),
    ] = False,
    kinds: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated organism kinds (default: all, or the quick five; honest_hard is the honest organism on a harder target split)."
        ),
    ] = None,
    calibration_seeds: Annotated[
        str, typer.Option(help="Organism build seeds that fit the thresholds.")
    ] = "0",
    test_seeds: Annotated[str, typer.Option(help="Organism build seeds scored out of sample.")] = "1",
    audit_seeds: Annotated[str, typer.Option(help="Audit seeds per organism.")] = "0,1",
    base: Annotated[str, typer.Option(help="The organisms' base: tiny, or smollm2 (LoRA, slow).")] = "tiny",
    no_elicit: Annotated[
        bool, typer.Option("--no-elicit", help="Skip the elicitation runs (the monitor's detectors).")
    ] = False,
    jobs: Annotated[
        int, typer.Option(help="Worker processes, or Ray tasks in flight with --ray (one torch thread each).")
    ] = 2,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
    write_calibration: Annotated[
        Path | None,
        typer.Option(
            help="Write the combined audit score fitted on the calibration seeds here (JSON; "
            "rlaudit ships one as rlaudit/audits/calibration.json)."
        ),
    ] = None,
    as_json: JsonOption = False,
    html: HtmlOption = None,
) -> None:
    """Benchmark the detectors: build organisms per build seed, audit and elicit each, and score every
    detector on calibration seeds and (with the thresholds fitted there) on unseen test seeds."""
    require_train_extra()
    check_html_path(html)
    if write_calibration is not None and not write_calibration.parent.is_dir():
        raise fail(f"--write-calibration: no folder {write_calibration.parent}")
    if jobs < 1:
        raise fail(f"--jobs must be >= 1 (got {jobs})")
    if base not in ("tiny", "smollm2"):
        raise fail(f"--base: tiny or smollm2 (got {base!r})")
    use_ray = check_ray(ray, ray_address)
    from rlaudit import progress
    from rlaudit.bench import BenchConfig, run_bench
    from rlaudit.cli import quiet_stdout

    settings: dict[str, Any] = {
        "out": out,
        "calibration_seeds": _seeds("--calibration-seeds", calibration_seeds),
        "test_seeds": _seeds("--test-seeds", test_seeds),
        "audit_seeds": _seeds("--audit-seeds", audit_seeds),
        "base": base,
        "elicit": not no_elicit,
        "jobs": jobs,
        "executor": "ray" if use_ray else "process",
        "ray_address": ray_address,
        "calibration_out": write_calibration,
    }
    if kinds is not None:
        settings["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    try:
        cfg = BenchConfig.quick(**settings) if quick else BenchConfig(**settings)
    except ValueError as e:
        raise fail(str(e)) from None
    from rlaudit.executors import ExecutorUnavailable

    try:
        with quiet_stdout(as_json), progress.quiet(as_json):
            judgement = run_bench(cfg)
    except ExecutorUnavailable as e:
        raise fail(f"--ray: {e}") from None
    doc = judgement.to_json()
    if not as_json:
        from rich.console import Console

        Console().print(_table(doc))
    emit(doc, as_json=as_json, html=html, summary=False)


def _table(doc: dict[str, object]) -> Table:
    from rich.table import Table

    sections = doc["sections"]
    assert isinstance(sections, dict)
    table = Table(title=str(doc["headline"]))
    for col in ("detector", "AUROC calib.", "AUROC test (95% CI)", "TPR test @5% FPR", "FPR test @5%"):
        table.add_column(col)
    for key, t in sections["test"].items():
        c = sections["calibration"][key]
        at = t.get("fpr_0.05", {})
        table.add_row(
            key,
            _n(c["auroc"]),
            f"{_n(t['auroc'])} ({_n(t['auroc_ci'][0])}-{_n(t['auroc_ci'][1])})",
            _n(at.get("tpr")),
            _n(at.get("fpr")),
        )
    return table


def _n(x: object) -> str:
    return f"{x:.2f}" if isinstance(x, float) else "n/a"
