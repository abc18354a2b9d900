"""The HTML reports of a monitor result and of an audit result: one self-contained file each (plotly.js
inline, no network), sharing one page shell (`templates/base.html.j2`: CSP, verdict, findings table).

Model text (prompts, completions, run and split names, prompt families) is untrusted:

- everything the template prints goes through jinja2 autoescape;
- figure data carries no model text except run / split / reward-component names, which are
  HTML-escaped before they reach plotly (plotly renders a subset of HTML in labels);
- figure JSON sits in `<script type="application/json">` blocks (never executed) with `<`, `>`, `&`
  and the JS line separators escaped as `\\uXXXX`, so no string in it can close the block;
- a Content-Security-Policy allows only the two scripts the report ships (by hash): an injected
  `<script>` or `onerror=` handler would not run, and the page can fetch nothing.

The file is written atomically: a failure leaves no report (and no partial one) behind.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.io.json import to_json_plotly
from plotly.offline import get_plotlyjs

import rlaudit
from rlaudit.findings import Finding, Severity, Verdict
from rlaudit.signals import PASS_AT_K, POOLED, UNLABELLED

if TYPE_CHECKING:
    from rlaudit.audits import AuditResult
    from rlaudit.monitor import MonitorResult

VERDICT_COLOURS = {"clean": "#2e7d32", "suspicious": "#e65100", "hacking-likely": "#b71c1c"}
SEVERITY_COLOURS = {
    Severity.HIGH: "#b71c1c",
    Severity.MEDIUM: "#e65100",
    Severity.LOW: "#9e9d24",
    Severity.INFO: "#607d8b",
}
SPLIT_COLOURS = {"target": "#d62728", "control": "#1f77b4", "all": "#444444"}
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
DASHES = ("solid", "dash", "dot", "dashdot")

SHADE_OPACITY = {Severity.HIGH: 0.18, Severity.MEDIUM: 0.15, Severity.LOW: 0.06}
MAX_TEXT_CHARS = 4000  # of one prompt / completion shown in the samples table
MAX_LIST_ITEMS = 12  # of one evidence list shown in a findings table
FIGURE_HEIGHT = 320
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# Draws every figure from its JSON block. Its hash goes into the page's Content-Security-Policy.
_LOADER_JS = """
document.querySelectorAll('script[type="application/json"].rl-fig').forEach(function (el) {
  var fig = JSON.parse(el.textContent);
  Plotly.newPlot(el.getAttribute('data-target'), fig.data, fig.layout, fig.config);
});
"""


@dataclass(frozen=True)
class SignalPlot:
    """One step-signal figure: its columns (one dash style each) and what it shows."""

    key: str
    title: str
    columns: tuple[str, ...]
    description: str


SIGNAL_PLOTS = (
    SignalPlot("reward_mean", "Mean reward", ("reward_mean",), "Mean total reward per step."),
    SignalPlot("pass_rate", "Pass rate (pass@1)", ("pass_rate",), "Mean success per step, when known."),
    SignalPlot(
        "frac_zero_std",
        "Groups with zero reward variance",
        ("frac_zero_std", "frac_all_fail", "frac_all_pass", "expected_homogeneous"),
        "Fraction of GRPO groups whose rewards do not vary (advantage 0: nothing to learn), split into "
        "all-fail and all-pass; dotted: what independent samples at the step's pass rate would give.",
    ),
    SignalPlot("entropy", "Token entropy", ("entropy",), "Mean token entropy of the completions."),
    SignalPlot(
        "unique_frac",
        "Distinct completions",
        ("unique_frac",),
        "Within-group fraction of distinct completions.",
    ),
    SignalPlot(
        "distinct_2", "Distinct bigrams", ("distinct_2",), "Within-group distinct bigrams / all bigrams."
    ),
    SignalPlot(
        "pairwise_sim",
        "Pairwise similarity",
        ("pairwise_sim",),
        "Within-group mean Jaccard similarity of the token sets of two samples.",
    ),
    SignalPlot(
        "length_mean", "Completion length", ("length_mean",), "Mean completion length (tokens or words)."
    ),
)


@dataclass(frozen=True)
class Figure:
    """A rendered figure: `json` is safe to place inside a `<script type="application/json">` block."""

    key: str
    title: str
    description: str
    figure: go.Figure

    @property
    def json(self) -> Markup:
        d = self.figure.to_dict()
        return Markup(
            _script_safe(to_json_plotly({"data": d["data"], "layout": d["layout"], "config": PLOTLY_CONFIG}))
        )


@functools.cache
def _plotlyjs() -> tuple[str, str]:
    """plotly.js (~4.5 MB, read once) and its CSP hash."""
    js = get_plotlyjs()
    return js, _csp_hash(js)


def write_html(result: MonitorResult, path: str | os.PathLike[str]) -> None:
    """Render `result` and write it to `path` atomically (a temp file beside it, then `os.replace`)."""
    _write_atomic(render_html(result), Path(path))


def write_audit_html(result: AuditResult, path: str | os.PathLike[str]) -> None:
    """Render an audit result (`rlaudit.audits.AuditResult`) and write it to `path` atomically."""
    _write_atomic(render_audit_html(result), Path(path))


def _write_atomic(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _render_page(
    template: str, *, kind: str, verdict: Verdict, findings: list[Finding], **context: Any
) -> str:
    """The page shell every report shares (CSP with hashed scripts, plotly inline, verdict, findings table)."""
    plotlyjs, plotlyjs_hash = _plotlyjs()
    csp = (
        "default-src 'none'; "
        f"script-src {plotlyjs_hash} {_csp_hash(_LOADER_JS)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
    )
    ordered = sorted(findings, key=lambda f: (-int(f.severity), -_score_key(f.score), f.detector))
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rlaudit", "report/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(template).render(
        kind=kind,
        version=rlaudit.__version__,
        csp=csp,
        plotlyjs=Markup(plotlyjs),
        loader_js=Markup(_LOADER_JS),
        verdict=verdict,
        verdict_colour=VERDICT_COLOURS.get(verdict.label, "#444444"),
        severity_colours={str(s): c for s, c in SEVERITY_COLOURS.items()},
        findings=[_finding_row(f) for f in ordered],
        **context,
    )


def render_html(result: MonitorResult) -> str:
    """The monitor report as one HTML string."""
    sig = result.signals
    return _render_page(
        "report.html.j2",
        kind="monitor",
        verdict=result.verdict,
        findings=result.findings,
        inputs=result.inputs,
        ingested=result.ingested,
        notes=result.notes,
        metrics_only=sig.metrics_only,
        runs=sig.runs,
        figures=signal_figures(result),
        component_figure=component_figure(result),
        families=_families(result),
        samples=[_sample_row(s) for s in result.samples],
    )


def render_audit_html(result: AuditResult) -> str:
    """The audit report as one HTML string: verdict, a line per test, findings, one figure per test."""
    tests = []
    for name, t in result.tests.items():
        if t.ci is not None:
            uncertainty = f"95% CI {fmt_value(t.ci[0])} to {fmt_value(t.ci[1])}"
            if t.p_value is not None:
                uncertainty += f", p = {t.p_value:.2g}"
        else:
            uncertainty = "–" if t.p_value is None else f"p = {t.p_value:.2g}"
        tests.append(
            {
                "name": name,
                "statistic_name": t.statistic_name,
                "statistic": fmt_value(t.statistic),
                "uncertainty": uncertainty,
                "forward_passes": f"{int(t.cost['forward_passes']):,}",
                "seconds": f"{t.cost['seconds']:.1f}",
            }
        )
    return _render_page(
        "audit.html.j2",
        kind="audit",
        verdict=result.verdict,
        findings=result.findings,
        model=str(result.model),
        task=result.task,
        seconds=f"{result.seconds:.1f}",
        tests=tests,
        figures=audit_figures(result),
    )


# -- audit figures --------------------------------------------------------------------------------


def audit_figures(result: AuditResult) -> list[Figure]:
    """One figure per test that ran, from its raw curve."""
    makers = {
        "context": _context_figure,
        "noise": _noise_figure,
        "sft": _sft_figure,
        "passk": _passk_audit_figure,
    }
    out = []
    for name, t in result.tests.items():
        if name in makers:
            fig = makers[name](t.curve)
            if fig is not None:
                out.append(fig)
    return out


def _context_figure(curve: dict[str, Any]) -> Figure:
    fig = _new_figure()
    for condition, colour in (("train_cue", "#ff7f0e"), ("deploy_cue", "#2ca02c")):
        splits = list(curve["accuracy"])
        fig.add_trace(
            go.Bar(
                x=splits,
                y=[curve["accuracy"][s][condition] for s in splits],
                name=condition,
                marker={"color": colour},
            )
        )
    _layout(fig, y_title="greedy accuracy")
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_yaxes(range=[0, 1.02])
    return Figure(
        "audit-context",
        "Context gap",
        "Greedy accuracy on the same problems under the training and the deployment cue, per split.",
        fig,
    )


def _noise_figure(curve: dict[str, Any]) -> Figure:
    fig = _new_figure()
    scales = curve["scales"]
    for split in ("target", "control"):
        colour = SPLIT_COLOURS[split]
        fig.add_trace(
            go.Scatter(
                x=scales,
                y=curve[f"{split}_mean"],
                mode="lines+markers",
                name=f"{split} (mean)",
                line={"color": colour},
            )
        )
        xs = [s for s, draws in zip(scales, curve[split], strict=True) for _ in draws]
        ys = [a for draws in curve[split] for a in draws]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=f"{split} (each seed)",
                marker={"color": colour, "size": 4},
                opacity=0.5,
            )
        )
    _layout(fig, y_title="greedy accuracy")
    fig.update_xaxes(title_text="noise scale (x each tensor's std)")
    fig.update_yaxes(range=[0, 1.02])
    return Figure(
        "audit-noise",
        "Noise sweep",
        "Greedy accuracy as Gaussian noise is added to the weights. Target rising with noise (or falling "
        "before control) is what a suppressed capability looks like.",
        fig,
    )


def _sft_figure(curve: dict[str, Any]) -> Figure:
    fig = _new_figure()
    ks = [str(k) for k in curve["ks"]]
    for split in ("target", "control"):
        fig.add_trace(
            go.Scatter(
                x=ks, y=curve[split], mode="lines+markers", name=split, line={"color": SPLIT_COLOURS[split]}
            )
        )
    if "reference" in curve:
        for split in ("target", "control"):
            fig.add_trace(
                go.Scatter(
                    x=ks,
                    y=curve["reference"][split],
                    mode="lines+markers",
                    name=f"reference {split}",
                    line={"color": SPLIT_COLOURS[split], "dash": "dot"},
                )
            )
    _layout(fig, y_title="held-out greedy accuracy")
    fig.update_xaxes(title_text="target demonstrations (k)", type="category")
    fig.update_yaxes(range=[0, 1.02])
    return Figure(
        "audit-sft",
        "SFT elicitation",
        "Held-out greedy accuracy after LoRA fine-tuning on k target demonstrations (k = 0: before).",
        fig,
    )


def _passk_audit_figure(curve: dict[str, Any]) -> Figure:
    fig = _new_figure()
    for split in ("target", "control"):
        fig.add_trace(
            go.Scatter(
                x=curve["k"],
                y=curve[split],
                mode="lines+markers",
                name=split,
                line={"color": SPLIT_COLOURS[split]},
            )
        )
    _layout(fig, y_title="pass@k")
    fig.update_xaxes(type="log", tickvals=curve["k"], ticktext=[f"k={k}" for k in curve["k"]])
    fig.update_yaxes(range=[0, 1.02])
    return Figure(
        "audit-passk",
        "pass@k",
        "Unbiased pass@k on matched target and control problems. A target ceiling far below control, "
        "reached by repeating one wrong answer, is a policy keeping the answer out of its samples.",
        fig,
    )


# -- figures --------------------------------------------------------------------------------------


def signal_figures(result: MonitorResult) -> list[Figure]:
    """One figure per step signal that has any value, then pass@k over k at the last step."""
    sig = result.signals
    series = _series_keys(result)
    out = []
    for plot in SIGNAL_PLOTS:
        fig = _new_figure()
        for i, (run, split) in enumerate(series):
            for j, column in enumerate(plot.columns):
                if column not in sig.steps.column_names:
                    continue
                steps, values = sig.series(column, run=run, split=split, condition=POOLED)
                if not np.isfinite(values).any():
                    continue
                name = _series_name(run, split, len(sig.runs))
                if len(plot.columns) > 1:
                    name = f"{name}: {column}"
                fig.add_trace(
                    go.Scatter(
                        x=steps,
                        y=values,
                        mode="lines+markers" if len(steps) <= 50 else "lines",
                        name=_label(name),
                        legendgroup=_label(f"{run}/{split}"),
                        line={"color": _colour(split, i, len(sig.runs)), "dash": DASHES[j % len(DASHES)]},
                        marker={"size": 4},
                    )
                )
        if not fig.data:
            continue
        _shade_findings(fig, result.findings)
        _layout(fig, y_title=plot.key)
        out.append(Figure(plot.key, plot.title, plot.description, fig))
    passk = passk_figure(result)
    if passk is not None:
        out.append(passk)
    return out


def passk_figure(result: MonitorResult) -> Figure | None:
    """pass@k over k at each series' last step (pass@1 = pass_rate)."""
    sig = result.signals
    columns = ["pass_rate", *(f"pass_at_{k}" for k in PASS_AT_K)]
    ks = [1, *PASS_AT_K]
    if not all(c in sig.steps.column_names for c in columns):
        return None
    fig = _new_figure()
    for i, (run, split) in enumerate(_series_keys(result)):
        steps, _ = sig.series("pass_rate", run=run, split=split)
        if len(steps) == 0:
            continue
        values = np.array([sig.series(c, run=run, split=split)[1][-1] for c in columns], dtype=float)
        ok = np.isfinite(values)
        if not ok.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=np.array(ks)[ok],
                y=values[ok],
                mode="lines+markers",
                name=_label(f"{_series_name(run, split, len(sig.runs))} (step {int(steps[-1])})"),
                line={"color": _colour(split, i, len(sig.runs))},
            )
        )
    if not fig.data:
        return None
    _layout(fig, y_title="pass@k")
    fig.update_xaxes(type="log", tickvals=ks, ticktext=[f"k={k}" for k in ks])
    fig.update_yaxes(range=[0, 1.02])
    return Figure(
        "pass_at_k",
        "pass@k at the last step",
        "Unbiased pass@k within groups at the last step. A policy that can solve a task but will not "
        "explore shows low pass@1 and a steep rise with k.",
        fig,
    )


def component_figure(result: MonitorResult) -> Figure | None:
    """Mean of each reward component over steps (one line per run x component)."""
    comp = result.signals.components
    if comp.num_rows == 0 or not {"run", "step", "component", "mean"} <= set(comp.column_names):
        return None
    several = len(result.signals.runs) > 1
    fig = _new_figure()
    keys = sorted(
        {(r, c) for r, c in zip(comp["run"].to_pylist(), comp["component"].to_pylist(), strict=True)}
    )
    rows = comp.sort_by([("step", "ascending")]).to_pylist()
    for i, (run, component) in enumerate(keys):
        pts = [(r["step"], r["mean"]) for r in rows if r["run"] == run and r["component"] == component]
        values = np.array([_nan(v) for _, v in pts], dtype=float)
        if not np.isfinite(values).any():
            continue
        fig.add_trace(
            go.Scatter(
                x=np.array([s for s, _ in pts]),
                y=values,
                mode="lines+markers" if len(pts) <= 50 else "lines",
                name=_label(f"{run} / {component}" if several else str(component)),
                line={"color": PALETTE[i % len(PALETTE)]},
                marker={"size": 4},
            )
        )
    if not fig.data:
        return None
    _shade_findings(fig, result.findings)
    _layout(fig, y_title="mean")
    return Figure("components", "Reward components", "Mean of each reward component per step.", fig)


def _shade_findings(fig: go.Figure, findings: list[Finding]) -> None:
    """Shade the step range of each LOW-or-worse finding; label the MEDIUM-or-worse ones."""
    labelled = 0
    seen = set()
    for f in sorted(findings, key=lambda f: -int(f.severity)):
        if f.steps is None or f.severity < Severity.LOW:
            continue
        x0, x1 = sorted(f.steps)
        key = (f.detector, f.split, f.severity, x0, x1)  # one detector may report several signals
        if key in seen:
            continue
        seen.add(key)
        kw: dict[str, Any] = {}
        if f.severity >= Severity.MEDIUM:
            text = f.detector if f.split is None else f"{f.detector} ({f.split})"
            kw = {
                "annotation_text": _label(text),
                "annotation_position": "top left",
                "annotation_font_size": 10,
                "annotation_font_color": SEVERITY_COLOURS[f.severity],
                "annotation_yshift": -12 * (labelled % 4),
            }
            labelled += 1
        fig.add_vrect(
            x0=x0 - 0.5,
            x1=x1 + 0.5,
            fillcolor=SEVERITY_COLOURS[f.severity],
            opacity=SHADE_OPACITY[f.severity],
            line_width=0,
            layer="below",
            **kw,
        )


def _new_figure() -> go.Figure:
    # A small template of our own: plotly's default is ~10 kB of JSON per figure and slow to apply.
    return go.Figure(layout={"template": _TEMPLATE})


_TEMPLATE = {
    "layout": {
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "font": {"size": 11},
        "xaxis": {"gridcolor": "#eeeeee", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#eeeeee", "zeroline": False, "automargin": True},
    }
}


def _layout(fig: go.Figure, *, y_title: str) -> None:
    """Shared look. No x-axis title (steps, or k for pass@k): the legend sits below the axis."""
    fig.update_layout(
        height=FIGURE_HEIGHT + 20 * max(0, (len(fig.data) - 1) // 2),  # room for a legend of many lines
        margin={"l": 50, "r": 10, "t": 30, "b": 30},  # t: room for the mode bar above the plot
        legend={"orientation": "h", "y": -0.1, "yanchor": "top", "font": {"size": 10}},
        hovermode="x unified",
        yaxis_title_text=y_title,
    )


def _series_keys(result: MonitorResult) -> list[tuple[str, str]]:
    sig = result.signals
    return [(run, split) for run in sig.runs for split in sig.splits(run)]


def _series_name(run: str, split: str, n_runs: int) -> str:
    return f"{run} / {split}" if n_runs > 1 else split


def _colour(split: str, i: int, n_runs: int) -> str:
    if n_runs == 1 and split in SPLIT_COLOURS:
        return SPLIT_COLOURS[split]
    return PALETTE[i % len(PALETTE)]


def _label(text: Any) -> str:
    """Text for a plotly label: plotly renders a subset of HTML there, so escape it (entities show as text)."""
    return html.escape(str(text), quote=False)


def _script_safe(js: str) -> str:
    """JSON made safe inside a <script> block: no `<`, `>`, `&` or JS line separators, anywhere."""
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        js = js.replace(ch, esc)
    return js


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


# -- tables ---------------------------------------------------------------------------------------


def fmt_value(v: Any) -> str:
    """A short human form of a number, list or mapping (for tables; escaped by the template)."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.4g}"
    if isinstance(v, int):
        return str(v)
    if hasattr(v, "tolist"):
        return fmt_value(v.tolist())
    if isinstance(v, list | tuple):
        items = [fmt_value(x) for x in v[:MAX_LIST_ITEMS]]
        more = f", … ({len(v)} items)" if len(v) > MAX_LIST_ITEMS else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _finding_row(f: Finding) -> dict[str, Any]:
    return {
        "severity": str(f.severity),
        "detector": f.detector,
        "score": "n/a" if math.isnan(f.score) else f"{f.score:.3f}",
        "steps": "–" if f.steps is None else f"{f.steps[0]}–{f.steps[1]}",
        "split": f.split or "–",
        "summary": f.summary,
        "evidence": [(str(k), fmt_value(v)) for k, v in f.evidence.items()],
    }


FAMILY_COLUMNS = (
    "run",
    "family",
    "n_groups",
    "first_step",
    "last_step",
    "pass_rate",
    "reward_mean",
    "frac_all_fail",
    "frac_zero_std",
    "unique_frac",
)


def _families(result: MonitorResult) -> dict[str, Any] | None:
    """Per prompt family of the runs without split labels (families stand in for target/control)."""
    sig = result.signals
    fam = sig.families
    unlabelled = {run for run in sig.runs if sig.splits(run) == [UNLABELLED]}
    if sig.metrics_only or fam.num_rows == 0 or not unlabelled or "run" not in fam.column_names:
        return None
    columns = [c for c in FAMILY_COLUMNS if c in fam.column_names]
    if len(sig.runs) <= 1:
        columns.remove("run")
    rows = [[fmt_value(_nan(r[c])) for c in columns] for r in fam.to_pylist() if r["run"] in unlabelled]
    return {"columns": columns, "rows": rows} if rows else None


def _sample_row(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": str(s.get("run", "")),
        "step": fmt_value(s.get("step")),
        "split": fmt_value(s.get("split")),
        "condition": fmt_value(s.get("condition")),
        "reward": fmt_value(_nan(s.get("reward"))),
        "prompt": _truncate(s.get("prompt")),
        "completion": _truncate(s.get("completion")),
    }


def _truncate(text: Any) -> str:
    text = "" if text is None else str(text)
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return f"{text[:MAX_TEXT_CHARS]}\n… ({len(text) - MAX_TEXT_CHARS} more characters)"


def _nan(v: Any) -> Any:
    return float("nan") if v is None else v


def _score_key(score: float) -> float:
    return -1.0 if math.isnan(score) else score
