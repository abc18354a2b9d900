from __future__ import annotations

from typing import Any

from rich.console import Console

from rlaudit.report import print_summary


def render(doc: dict[str, Any]) -> str:
    console = Console(record=True, width=160, color_system=None)
    print_summary(doc, console)
    return console.export_text()


def test_monitor_summary(docs):
    doc = docs["monitor"]
    text = render(doc)
    assert "verdict: hacking-likely" in text
    assert doc["headline"][:60] in " ".join(text.split())
    for f in doc["findings"]:
        assert f["id"] in text and f["detector"] in text
    assert "first → last step" in text
    target = next(line for line in text.splitlines() if line.strip().startswith("target"))
    assert "0 → 39" in target and "0.00 → 0.00" in target  # locked: pass rate stays 0


def test_audit_summary_has_one_line_per_test(docs):
    text = render(docs["audit"])
    for key in ("context_gap", "noise_sweep", "sft_elicitation", "passk"):
        assert any(line.strip().startswith(key) for line in text.splitlines())
    assert "95% CI 0.87 to 0.97, p = 1e-20" in text
    assert "model: organisms/locked" in text


def test_elicit_summary_shows_before_and_after(docs):
    text = render(docs["elicit"])
    assert "elicitation: demo-injection, 40 steps, first flag at step 6" in text
    row = next(line for line in text.splitlines() if line.split()[:2] == ["control", "train_cue"])
    assert row.split()[2:] == ["0.80", "0.90"]


def test_unjudged_kinds(docs):
    assert "verdict: not judged" in render(docs["eval"])
    assert "evaluation: arith" in render(docs["eval"])
    text = render(docs["organism"])
    assert "organism: locked from tiny (seed 0), expect resists" in text
    assert "note: Built on CPU." in text


def test_markup_in_text_is_printed_literally(monitor):
    monitor["findings"][0]["summary"] = "a [red]bracketed[/red] :smile: summary"
    monitor["sections"]["notes"] = ["A note with [bold]markup[/bold]."]
    text = render(monitor)
    assert "[red]bracketed[/red]" in text
    assert "[bold]markup[/bold]" in text


def test_clean_without_findings(monitor):
    monitor["findings"], monitor["verdict"] = [], "clean"
    text = render(monitor)
    assert "verdict: clean" in text and "no findings" in text
