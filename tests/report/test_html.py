from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from rlaudit.findings import compute_verdict
from rlaudit.ingest import ingest
from rlaudit.monitor import MonitorResult
from rlaudit.records import RolloutStore
from rlaudit.report import html as report_html
from rlaudit.report import write_html
from rlaudit.signals import compute_signals

from ._helpers import FINDINGS, MALICIOUS, write_log

ALL_FIGURES = [
    "fig-reward_mean",
    "fig-pass_rate",
    "fig-frac_zero_std",
    "fig-entropy",
    "fig-unique_frac",
    "fig-distinct_2",
    "fig-pairwise_sim",
    "fig-length_mean",
    "fig-pass_at_k",
    "fig-components",
]
FIG_JSON = re.compile(
    r'<script type="application/json" class="rl-fig" data-target="([^"]+)">(.*?)</script>', re.S
)


def render(result, tmp_path: Path) -> str:
    out = tmp_path / "report.html"
    write_html(result, out)
    return out.read_text(encoding="utf-8")


def figures(text: str) -> dict[str, dict]:
    """The figure JSON blocks of a report, parsed (they parse only if nothing broke out of them)."""
    return {target: json.loads(body) for target, body in FIG_JSON.findall(text)}


def test_report_has_verdict_and_one_figure_per_signal(result, tmp_path):
    text = render(result, tmp_path)
    assert 'class="verdict"' in text and ">suspicious<" in text
    assert "medium-severity evidence from: all_fail_starvation" in text
    for name in ("all_fail_starvation", "length_trend", "invariance"):
        assert name in text
    assert "<details>" in text and "frac_all_fail" in text  # evidence table
    divs = re.findall(r'<div id="(fig-[^"]+)" class="plotly-graph-div"', text)
    assert divs == ALL_FIGURES
    assert list(figures(text)) == ALL_FIGURES
    # one line per split, pooled over conditions
    names = [t["name"] for t in figures(text)["fig-reward_mean"]["data"]]
    assert names == ["control", "target"]


def test_all_nan_signal_is_skipped(make_result, tmp_path):
    text = render(make_result(entropy=False), tmp_path)
    assert 'id="fig-entropy"' not in text
    assert 'id="fig-reward_mean"' in text


def test_model_text_is_escaped(result, tmp_path):
    text = render(result, tmp_path)
    assert "<script>alert(1)" not in text
    assert "<img src=x" not in text
    assert "alert(3)</script>" not in text
    assert html.escape(MALICIOUS, quote=False) in text or html.escape(MALICIOUS) in text
    # only our scripts: plotly.js, the loader, one JSON block per figure
    assert text.count("<script") == 2 + len(ALL_FIGURES)


def test_run_names_cannot_break_out_of_figure_json(tmp_path):
    # Two runs, so run names reach the figures (legend labels); one of them is hostile.
    store = RolloutStore(tmp_path / "store")
    ingested = [
        ingest(write_log(tmp_path / "a.jsonl", run=MALICIOUS), store),
        ingest(write_log(tmp_path / "b.jsonl", run="b & co"), store),
    ]
    result = MonitorResult(compute_verdict(FINDINGS), FINDINGS, compute_signals(store), ingested, [], [], [])
    text = render(result, tmp_path)
    assert "<script>alert(1)" not in text
    assert "<img src=x" not in text
    blocks = FIG_JSON.findall(text)
    assert all("<" not in body and ">" not in body for _, body in blocks)
    figs = figures(text)
    assert list(figs) == ALL_FIGURES
    # plotly renders a subset of HTML in labels: names reach it entity-escaped, shown as text
    names = [t["name"] for t in figs["fig-reward_mean"]["data"]]
    assert names == [
        html.escape(f"{MALICIOUS} / control", quote=False),
        html.escape(f"{MALICIOUS} / target", quote=False),
        "b &amp; co / control",
        "b &amp; co / target",
    ]


def test_medium_finding_range_is_shaded(result, tmp_path):
    layout = figures(render(result, tmp_path))["fig-reward_mean"]["layout"]
    rects = {(s["x0"], s["x1"]): s for s in layout["shapes"] if s["type"] == "rect"}
    assert (4.5, 9.5) in rects  # MEDIUM finding over steps 5-9
    assert (1.5, 4.5) in rects  # LOW finding over steps 2-4, lighter
    assert rects[(1.5, 4.5)]["opacity"] < rects[(4.5, 9.5)]["opacity"]
    labels = [a["text"] for a in layout["annotations"]]
    assert labels == ["all_fail_starvation (target)"]


def test_self_contained(result, tmp_path):
    text = render(result, tmp_path)
    plotlyjs = get_plotlyjs()
    assert text.count(plotlyjs) == 1
    rest = text.replace(plotlyjs, "")
    assert "cdn.plot.ly" not in rest
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", rest)
    assert "<link" not in rest
    assert not re.search(r"<script[^>]*\ssrc=", rest)


def test_csp_allows_exactly_the_shipped_scripts(result, tmp_path):
    text = render(result, tmp_path)
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1))
    assert "default-src 'none'" in csp
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(scripts) == 2
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_unlabelled_run_shows_prompt_families(make_result, tmp_path):
    result = make_result(labelled=False)
    assert not result.signals.labelled
    text = render(result, tmp_path)
    assert 'id="families"' in text
    assert "What is # + #? [target]" in text


def test_labelled_run_has_no_family_table(result, tmp_path):
    assert 'id="families"' not in render(result, tmp_path)


def test_metrics_only_banner(metrics_only_result, tmp_path):
    text = render(metrics_only_result, tmp_path)
    assert 'id="metrics-only"' in text
    assert "pass@k could not be checked" in text
    assert re.findall(r'<div id="(fig-[^"]+)" class="plotly-graph-div"', text) == [
        "fig-reward_mean",
        "fig-frac_zero_std",
    ]


def test_render_failure_leaves_no_file(result, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(report_html, "signal_figures", boom)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError):
        write_html(result, out / "report.html")
    assert list(out.iterdir()) == []


def test_write_failure_leaves_no_partial_file(result, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous report")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(report_html.os, "replace", boom)
    with pytest.raises(OSError):
        write_html(result, out / "report.html")
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert (out / "report.html").read_text() == "previous report"
