from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from markupsafe import escape

from rlaudit import judgement
from rlaudit.report import html as report_html
from rlaudit.report import render_html, write_html
from rlaudit.report.figures import slug

from ._helpers import HOSTILE_COMPONENT, HOSTILE_RUN, HOSTILE_SPLIT, PAYLOAD

NS = "{http://www.w3.org/2000/svg}"
SVG = re.compile(r"<svg .*?</svg>", re.S)
FIGURE = re.compile(r'<figure class="fig" id="([^"]+)">(.*?)</figure>', re.S)


def figures(page: str) -> dict[str, list[ET.Element]]:
    """Figure id -> its SVGs, parsed as XML (they parse only if nothing broke out of them)."""
    return {fid: [ET.fromstring(s) for s in SVG.findall(body)] for fid, body in FIGURE.findall(page)}


def legend(root: ET.Element) -> list[str]:
    return [
        "".join(t.itertext())
        for g in root.iter(f"{NS}g")
        if g.get("class") == "legend-item"
        for t in g.iter(f"{NS}text")
    ]


@pytest.mark.parametrize("kind", ["monitor", "audit", "elicit", "eval", "organism", "show"])
def test_round_trip_renders_the_same_page(docs, kind):
    doc = docs[kind]
    page = render_html(doc)
    assert render_html(json.loads(json.dumps(doc, allow_nan=False))) == page
    assert f"<title>rlaudit {kind} report: {html.escape(doc['verdict'] or 'not judged')}</title>" in page
    assert f"<h1>rlaudit {kind} report</h1>" in page
    assert f'<p id="headline">{escape(doc["headline"])}</p>' in page


def test_write_html_writes_what_render_returns(docs, tmp_path):
    write_html(docs["audit"], tmp_path / "audit.html")
    assert (tmp_path / "audit.html").read_text(encoding="utf-8") == render_html(docs["audit"])


@pytest.mark.parametrize(
    ("kind", "present", "absent"),
    [
        ("monitor", {"signals", "samples", "ingested", "provenance"}, {"audit", "elicitation", "evaluation", "organism", "curves"}),
        ("audit", {"audit", "curves", "provenance"}, {"signals", "samples", "elicitation", "evaluation", "organism"}),
        ("elicit", {"signals", "elicitation", "curves", "samples"}, {"audit", "evaluation", "organism"}),
        ("eval", {"evaluation", "curves"}, {"signals", "samples", "audit", "elicitation", "organism", "findings-none"}),
        ("organism", {"organism", "curves", "notes"}, {"signals", "samples", "audit", "elicitation", "evaluation"}),
    ],
)  # fmt: skip
def test_only_the_sections_a_doc_has_are_rendered(docs, kind, present, absent):
    ids = set(re.findall(r'<section id="([^"]+)"', render_html(docs[kind])))
    assert present <= ids
    assert not (absent & ids)


def test_page_runs_no_script_and_loads_nothing(docs):
    for doc in docs.values():
        page = render_html(doc)
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
        assert html.unescape(csp) == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        assert "<script" not in page.lower()
        assert "<img" not in page.lower() and "<link" not in page.lower() and "<iframe" not in page.lower()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|javascript:)""", page, re.I)
        assert set(re.findall(r'href="([^"]*)"', page)) <= {h for h in re.findall(r'href="(#[^"]*)"', page)}


def test_hostile_text_is_shown_as_text(monitor):
    page = render_html(monitor)
    for text in (PAYLOAD, HOSTILE_RUN, HOSTILE_SPLIT):
        assert str(escape(text)) in page
    assert not re.search(r"<[^>]*\son\w+\s*=", page.replace("&lt;", "").replace("&#x27;", "")), (
        "an event handler attribute"
    )
    figs = figures(page)
    assert all(
        not k.startswith("on") for svgs in figs.values() for s in svgs for el in s.iter() for k in el.attrib
    )
    components = figs["plot-components"][0]
    assert set(legend(components)) == {"correct", HOSTILE_COMPONENT}  # every line labelled, as text
    assert HOSTILE_SPLIT in legend(figs["plot-reward_mean"][0])


def test_every_linked_signal_has_its_plot_and_only_its_own_window_is_shaded(monitor):
    page = render_html(monitor)
    figs = figures(page)
    with_signal = [f for f in monitor["findings"] if f["signal"]]
    assert with_signal, "the monitor's findings name the signal they rest on"
    for f in with_signal:
        target = f"plot-{slug(f['signal'])}"
        assert f'href="#{target}"' in page
        assert target in figs or f'<span class="anchor" id="{target}">' in page
    for fid, svgs in figs.items():
        bands = [r for s in svgs for r in s.iter(f"{NS}rect") if r.get("class") == "band"]
        expected = [
            f
            for f in monitor["findings"]
            if f["signal"] and f"plot-{slug(f['signal'])}" == fid and f["steps"]
        ]
        assert len(bands) == len(expected), fid
        labels = [
            "".join(t.itertext()) for s in svgs for t in s.iter(f"{NS}text") if t.get("class") == "band-label"
        ]
        for f in expected:
            assert any(f"{f['id']} {f['detector']}" in label for label in labels)


def test_shaded_window_spans_the_finding_steps(monitor):
    monitor["findings"] = [f for f in monitor["findings"] if f["signal"] == "pass_rate"][:1]
    monitor["findings"][0]["steps"] = [10, 19]
    root = figures(render_html(monitor))["plot-pass_rate"][0]
    band = next(r for r in root.iter(f"{NS}rect") if r.get("class") == "band")
    ticks = {("".join(t.itertext())): float(t.get("x")) for t in root.iter(f"{NS}tspan")}
    x0, width = float(band.get("x")), float(band.get("width"))
    per_step = (ticks["20"] - ticks["10"]) / 10
    assert x0 == pytest.approx(ticks["10"] - per_step / 2, abs=0.2)
    assert x0 + width == pytest.approx(ticks["20"] - per_step / 2, abs=0.2)


def test_a_split_without_values_draws_no_line(monitor):
    run = next(iter(monitor["sections"]["signals"]["steps"].values()))
    series = run["control"]["*"]
    series["reward_mean"] = [None] * len(series["step"])
    root = figures(render_html(monitor))["plot-reward_mean"][0]
    names = legend(root)
    assert "target" in names and "control" not in names
    assert len([p for p in root.iter(f"{NS}path") if p.get("class") == "series"]) == len(names)


def test_a_signal_without_any_value_has_no_plot(monitor):
    assert all(v is None for run in monitor["sections"]["signals"]["steps"].values() for s in run.values()
               for c in s.values() for v in c["entropy"])  # fmt: skip
    page = render_html(monitor)
    assert 'id="plot-entropy"' not in page and 'id="plot-reward_mean"' in page


def test_axes_carry_units_and_passk_shows_only_ks_with_values(monitor):
    figs = figures(render_html(monitor))
    unit = monitor["sections"]["signals"]["columns"]["frac_all_fail"]["unit"]
    assert unit in ["".join(t.itertext()) for t in figs["plot-frac_all_fail"][0].iter(f"{NS}text")]
    ticks = ["".join(t.itertext()) for t in figs["plot-pass_at_k"][0].iter(f"{NS}tspan")]
    assert ticks == ["1", "2", "4", "8"]  # groups of 8: pass@16 and above have no value
    assert 'id="plot-pass_at_16"' in render_html(monitor)  # an anchor: a link to it still lands


def test_findings_show_readable_evidence(monitor):
    monitor["findings"][0]["evidence"] = {"p_value": 0.000123456, "per_step": list(range(30)), "ci": [0.1, 0.25],
                                          "nested": {"a": 1.23456789, "b": None}}  # fmt: skip
    page = render_html(monitor)
    block = re.search(r'<article class="finding" id="finding-F1".*?</article>', page, re.S).group(0)
    assert "<dt>p_value</dt><dd>0.00012</dd>" in block
    assert "<dd>[0, 1, 2, 3, 4, 5, 6, 7, … (30 items)]</dd>" in block
    assert "<dd>0.1 to 0.25</dd>" in block
    assert "<dd>a: 1.235 · b: –</dd>" in block


def test_audit_findings_link_to_their_test_curve_with_thresholds(docs):
    page = render_html(docs["audit"])
    figs = figures(page)
    for key in ("context_gap", "noise_sweep", "sft_elicitation", "passk"):
        assert f"plot-audit-{key}" in figs
        assert re.search(
            rf'<article class="finding" id="finding-F\d+"[^>]*>.*?href="#plot-audit-{key}"', page, re.S
        )
    drawn = {fid: [" ".join(ln.itertext()) for s in svgs for ln in s.iter(f"{NS}line") if ln.get("class") == "threshold"]
             for fid, svgs in figs.items()}  # fmt: skip
    assert any("min_gap" in t for t in drawn["plot-audit-context_gap"])
    assert any("min_gain" in t for t in drawn["plot-audit-noise_sweep"])
    assert any("fast_recovery" in t for t in drawn["plot-audit-sft_elicitation"])
    assert any("min_excess" in t for t in drawn["plot-audit-sft_elicitation"])
    assert {"min_gap", "confident_share", "varied_share"} <= {
        t.split(" ")[0] for t in drawn["plot-audit-passk"]
    }
    # pass@k's min_gap is drawn below control's ceiling (0.95 - 0.28), not at 0.28
    passk = docs["audit"]["sections"]["audit"]["tests"]["passk"]
    assert "min_gap → 0.67" in " ".join(drawn["plot-audit-passk"])
    assert passk["thresholds"]["min_gap"] == 0.28
    assert "95% CI 0.87 to 0.97, p = 1e-20" in page


def test_elicitation_before_after(docs):
    page = render_html(docs["elicit"])
    root = figures(page)["plot-elicitation"][0]
    assert legend(root) == ["before RL", "after RL"]
    tips = ["".join(t.itertext()) for r in root.iter(f"{NS}rect") for t in r.iter(f"{NS}title")]
    assert "after RL · control · train_cue: 0.9" in tips and "before RL · target · train_cue: 0" in tips
    assert (
        '<td>control</td><td>train_cue</td><td class="num">0.8</td><td class="num">0.9</td><td class="num">+0.100</td>'
        in page
    )
    assert "demo-injection" in page


def test_evaluation_and_organism(docs):
    page = render_html(docs["eval"])
    assert '<td>target</td><td>deploy_cue</td><td class="num">64</td><td class="num">0.02</td>' in page
    root = figures(page)["plot-evaluation"][0]
    assert "chance → 0.01" not in legend(root) and "chance = 0.01" in legend(root)
    org = render_html(docs["organism"])
    assert "<dt>kind</dt><dd>locked</dd>" in org and "Evaluation on <code>arith</code>" in org
    assert "plot-organism-eval-arith" in figures(org)


def test_provenance_block(docs):
    doc = json.loads(json.dumps(docs["monitor"]))
    doc["provenance"]["command"] = ["rlaudit", "monitor", "my log.jsonl", "--html", "r.html"]
    page = render_html(doc)
    block = re.search(r'<section id="provenance">.*?</section>', page, re.S).group(0)
    assert "<dd>rlaudit monitor &#39;my log.jsonl&#39; --html r.html</dd>" in block
    inp = doc["provenance"]["inputs"][0]
    assert f'<code title="{inp["sha256"]}">{inp["sha256"][:12]}</code>' in block
    assert re.search(r'<td class="num">\d+\.\d (kB|MB)</td>', block)
    assert "duckdb" in block and "store rows" in block


def test_samples_are_grouped_by_the_finding_they_illustrate(monitor):
    page = render_html(monitor)
    block = re.search(r'<section id="samples">.*?</section>', page, re.S).group(0)
    illustrated = {s["finding"] for s in monitor["sections"]["samples"] if s["finding"]}
    for fid in illustrated:
        assert f'<h3><a href="#finding-{fid}">{fid} · ' in block
    assert "Last step of each run and split" in block
    monitor["sections"]["samples"][0]["completion"] = "x" * 5000
    assert "… (3000 more characters in the JSON)" in render_html(monitor)


def test_metrics_only_and_families(monitor):
    sig = monitor["sections"]["signals"]
    sig["metrics_only"] = True
    sig["families"] = [{"run": "r", "family": "<b>What is # + #?</b>", "n_groups": 3, "pass_rate": 0.25}]
    page = render_html(monitor)
    assert 'id="metrics-only"' in page
    assert "<td>&lt;b&gt;What is # + #?&lt;/b&gt;</td>" in page


def test_a_minimal_doc_renders():
    doc = {"kind": "monitor", "verdict": None, "headline": "Nothing to say.", "findings": [], "sections": {}}
    page = render_html(doc)
    assert '<p id="headline">Nothing to say.</p>' in page and "<p>No findings.</p>" in page
    assert "<figure" not in page


def test_verdict_null_reads_not_judged(docs):
    page = render_html(docs["eval"])
    assert '<span id="verdict" class="verdict" style="background: #455a64">not judged</span>' in page


def test_page_size_of_a_40_step_monitor_run(docs):
    steps = next(iter(docs["monitor"]["sections"]["signals"]["steps"].values()))["target"]["*"]["step"]
    assert len(steps) == 40
    assert len(render_html(docs["monitor"]).encode("utf-8")) <= 1_000_000


def test_render_failure_leaves_no_file(docs, tmp_path, monkeypatch):
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(report_html, "signal_figures", boom)
    with pytest.raises(RuntimeError):
        write_html(docs["monitor"], tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == []


def test_write_failure_keeps_the_previous_report(docs, tmp_path, monkeypatch):
    (tmp_path / "report.html").write_text("previous report")

    def boom(*a: Any, **k: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(judgement.os, "replace", boom)
    with pytest.raises(OSError):
        write_html(docs["audit"], tmp_path / "report.html")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert (tmp_path / "report.html").read_text() == "previous report"
