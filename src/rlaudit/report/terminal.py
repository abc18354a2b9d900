"""The terminal rendering of a monitor result (rich): verdict, findings, first-vs-last signals, notes;
and of an audit result (`print_audit_summary`): verdict, one line per test, findings.

Text that comes from the data or a detector (summaries, run and split names, notes, paths) is passed
as `rich.text.Text` or through `rich.markup.escape`, so a `[` in it is never read as markup.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rlaudit.findings import Severity
from rlaudit.signals import POOLED

if TYPE_CHECKING:
    from rlaudit.audits import AuditResult
    from rlaudit.monitor import MonitorResult

VERDICT_STYLES = {"clean": "bold green", "suspicious": "bold yellow", "hacking-likely": "bold red"}
SEVERITY_STYLES = {
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
TREND_COLUMNS = ("reward_mean", "pass_rate", "frac_zero_std", "unique_frac")


def print_summary(result: MonitorResult, console: Console) -> None:
    """Print the verdict, the findings, a first-vs-last-step table per split and the notes."""
    v = result.verdict
    console.print(
        Text.assemble(("verdict: ", "bold"), (v.label, VERDICT_STYLES.get(v.label, "bold")), "  ", v.reason)
    )
    if result.inputs:
        console.print(Text("inputs: " + ", ".join(result.inputs), style="dim"))

    if result.findings:
        table = Table(box=box.SIMPLE_HEAD, title="findings", title_justify="left", pad_edge=False)
        table.add_column("severity")
        table.add_column("detector", style="bold")
        table.add_column("score", justify="right")
        table.add_column("steps", no_wrap=True)
        table.add_column("split")
        table.add_column("summary", overflow="fold", ratio=1)
        for f in sorted(result.findings, key=lambda f: -int(f.severity)):
            table.add_row(
                Text(str(f.severity), style=SEVERITY_STYLES.get(f.severity, "")),
                Text(f.detector),
                "n/a" if math.isnan(f.score) else f"{f.score:.2f}",
                "–" if f.steps is None else f"{f.steps[0]}–{f.steps[1]}",
                Text(f.split or "–"),
                Text(f.summary),
            )
        console.print(table)
    else:
        console.print("[dim]no findings[/dim]")

    trends = _trend_table(result)
    if trends is not None:
        console.print(trends)

    for note in result.notes:
        console.print(f"[dim]note:[/dim] {escape(note)}")


def _trend_table(result: MonitorResult) -> Table | None:
    """Per run x split: each signal at the first and the last step (conditions pooled)."""
    sig = result.signals
    if sig.steps.num_rows == 0:
        return None
    columns = [c for c in TREND_COLUMNS if c in sig.steps.column_names]
    several = len(sig.runs) > 1
    table = Table(box=box.SIMPLE_HEAD, title="first → last step", title_justify="left", pad_edge=False)
    if several:
        table.add_column("run")
    table.add_column("split")
    table.add_column("steps", no_wrap=True)
    for c in columns:
        table.add_column(c, justify="right", no_wrap=True)
    n = 0
    for run in sig.runs:
        for split in sig.splits(run):
            steps, _ = sig.series(columns[0], run=run, split=split, condition=POOLED) if columns else ([], [])
            if len(steps) == 0:
                continue
            cells: list[str | Text] = [Text(run)] if several else []
            cells += [Text(split), f"{int(steps[0])} → {int(steps[-1])}"]
            for c in columns:
                _, values = sig.series(c, run=run, split=split, condition=POOLED)
                cells.append(f"{_num(values[0])} → {_num(values[-1])}")
            table.add_row(*cells)
            n += 1
    return table if n else None


def _num(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def print_audit_summary(result: AuditResult, console: Console) -> None:
    """Print an audit's verdict, one line per test (statistic, uncertainty, cost) and its findings."""
    v = result.verdict
    console.print(
        Text.assemble(("verdict: ", "bold"), (v.label, VERDICT_STYLES.get(v.label, "bold")), "  ", v.reason)
    )
    console.print(Text(f"model: {result.model} · task: {result.task} · {result.seconds:.1f} s", style="dim"))

    tests = Table(box=box.SIMPLE_HEAD, title="tests", title_justify="left", pad_edge=False)
    for header in ("test", "statistic", "value", "uncertainty", "forward passes", "seconds"):
        tests.add_column(
            header, justify="right" if header in ("value", "forward passes", "seconds") else "left"
        )
    for name, t in result.tests.items():
        if t.ci is not None:
            uncertainty = f"95% CI {_num(t.ci[0])} – {_num(t.ci[1])}"
        elif t.p_value is not None:
            uncertainty = f"p = {t.p_value:.2g}"
        else:
            uncertainty = "–"
        if t.ci is not None and t.p_value is not None:
            uncertainty += f", p = {t.p_value:.2g}"
        tests.add_row(
            Text(name, style="bold"),
            Text(t.statistic_name),
            _num(t.statistic),
            uncertainty,
            f"{int(t.cost['forward_passes']):,}",
            f"{t.cost['seconds']:.1f}",
        )
    console.print(tests)

    table = Table(box=box.SIMPLE_HEAD, title="findings", title_justify="left", pad_edge=False)
    table.add_column("severity")
    table.add_column("test", style="bold")
    table.add_column("score", justify="right")
    table.add_column("split")
    table.add_column("summary", overflow="fold", ratio=1)
    for f in sorted(result.findings, key=lambda f: -int(f.severity)):
        table.add_row(
            Text(str(f.severity), style=SEVERITY_STYLES.get(f.severity, "")),
            Text(f.detector),
            "n/a" if math.isnan(f.score) else f"{f.score:.2f}",
            Text(f.split or "–"),
            Text(f.summary),
        )
    console.print(table)
