from __future__ import annotations

from rich.console import Console

from rlaudit.findings import Finding, Severity
from rlaudit.report import print_summary


def render(result) -> str:
    console = Console(record=True, width=120, color_system=None)
    print_summary(result, console)
    return console.export_text()


def test_terminal_summary(result):
    text = render(result)
    assert "verdict: suspicious" in text
    for name in ("all_fail_starvation", "length_trend", "invariance"):
        assert name in text
    assert "5–9" in text
    # first vs last step per split
    assert "first → last step" in text
    target = next(line for line in text.splitlines() if line.strip().startswith("target"))
    assert "0 → 9" in target and "0.00" in target


def test_markup_in_text_is_printed_literally(make_result):
    findings = [Finding("odd", Severity.MEDIUM, 0.5, "a [red]bracketed[/red] :smile: summary", steps=(1, 2))]
    text = render(make_result(findings))
    assert "[red]bracketed[/red]" in text
    assert "[bold]markup[/bold]" in text  # note


def test_clean_without_findings(make_result):
    text = render(make_result([]))
    assert "verdict: clean" in text
    assert "no findings" in text


def test_metrics_only(metrics_only_result):
    text = render(metrics_only_result)
    assert "zero_variance_trend" in text
    assert "n/a" in text  # pass_rate unknown
