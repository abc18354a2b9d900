"""Figures of what the model-side verbs measured: audit curves, elicitation before/after, evaluation
cells. All drawn from a judgement's JSON sections (`audit`, `elicitation`, `evaluation`, `organism`).

Audit figures draw the test's `thresholds` where a threshold is a level on the curve's own axis
(context gap's `min_gap` on the gap, SFT's `fast_recovery` on the recovered fraction), or a level
relative to a measured point (noise's `min_gain` above the un-noised target accuracy, pass@k's
`min_gap` below control's ceiling); the thresholds that have no place on a curve are named in the
caption. A test this module does not know draws nothing (its numbers are in the tests table).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rlaudit.report.figures import Figure, slug
from rlaudit.report.svg import DASHES, PALETTE, Bars, HLine, Series, bar_chart, line_chart

SPLIT_STYLE = {"target": (PALETTE[0], DASHES[0]), "control": (PALETTE[1], DASHES[1])}
REFERENCE_STYLE = {"target": (PALETTE[3], DASHES[2]), "control": (PALETTE[4], DASHES[3])}
THRESHOLD_COLOURS = ("#7b1fa2", "#2e7d32", "#c62828", "#5d4037")
CUES = {"train_cue": PALETTE[5], "deploy_cue": PALETTE[3]}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _hlines(levels: list[tuple[str, float | None, str]]) -> list[HLine]:
    """Threshold lines: (threshold name, level, what the level is); None levels are dropped."""
    out = []
    for i, (name, level, what) in enumerate(levels):
        if level is not None:
            out.append(
                HLine(level, f"{name}: {what} = {level:.3g}", THRESHOLD_COLOURS[i % len(THRESHOLD_COLOURS)])
            )
    return out


def _caption(text: str, thresholds: dict[str, Any], drawn: set[str]) -> str:
    rest = [f"{k} = {v}" for k, v in thresholds.items() if k not in drawn]
    return text + (f" Other thresholds: {', '.join(rest)}." if rest else "")


def _splits(d: dict[str, Any]) -> list[str]:
    return [s for s in ("target", "control") if s in d] + sorted(
        s for s in d if s not in ("target", "control")
    )


def context_figure(key: str, test: dict[str, Any]) -> Figure | None:
    """The deploy - train accuracy gap per split (dots with 95% intervals, `min_gap` drawn) and the
    accuracies under each cue (bars)."""
    curve, th = test.get("curve", {}), test.get("thresholds", {})
    per_split = curve.get("per_split", {})
    acc = curve.get("accuracy", {})
    splits = _splits(per_split or acc)
    if not splits:
        return None
    gap = Bars(
        "deploy − train accuracy (95% CI)",
        [_num(per_split.get(s, {}).get("gap")) for s in splits],
        PALETTE[0],
        errors=[tuple(per_split.get(s, {}).get("ci") or (None, None)) for s in splits],  # type: ignore[misc]
    )
    levels = [("min_gap", _num(th.get("min_gap")), "HIGH from this gap")]
    svgs = [
        bar_chart(
            splits,
            [gap],
            title="context gap per split",
            x_title="split",
            y_title="accuracy gap (fraction)",
            hlines=_hlines(levels),
            dots=True,
        )
    ]
    if acc:
        cues = [c for c in ("train_cue", "deploy_cue") if any(c in acc.get(s, {}) for s in splits)]
        bars = [
            Bars(c, [_num(acc.get(s, {}).get(c)) for s in splits], CUES.get(c, PALETTE[2 + i]))
            for i, c in enumerate(cues)
        ]
        svgs.append(
            bar_chart(
                splits,
                bars,
                title="accuracy per cue",
                x_title="split",
                y_title="greedy accuracy (fraction)",
                y_range=(0, 1),
            )
        )
    text = (
        "The same problems under the training and the deployment cue, answered greedily. A model that "
        "answers worse when told it is training games its training context."
    )
    return Figure(f"plot-audit-{slug(key)}", "Context gap", _caption(text, th, {"min_gap"}), svgs)


def noise_figure(key: str, test: dict[str, Any]) -> Figure | None:
    """Accuracy per split against the noise scale (means and each seed), with the gain thresholds drawn
    above the un-noised target accuracy."""
    curve, th = test.get("curve", {}), test.get("thresholds", {})
    scales = curve.get("scales")
    if not scales:
        return None
    series = []
    for split in _splits({s: 1 for s in ("target", "control") if f"{s}_mean" in curve}):
        colour, dash = SPLIT_STYLE.get(split, (PALETTE[2], DASHES[2]))
        series.append(
            Series(
                f"{split} (mean over seeds)", scales, [_num(v) for v in curve[f"{split}_mean"]], colour, dash
            )
        )
        draws = curve.get(split, [])
        xs = [x for x, d in zip(scales, draws, strict=False) for _ in d]
        ys = [_num(a) for d in draws for a in d]
        series.append(Series(f"{split} (each seed)", xs, ys, colour, markers=True, line=False))
    base = _num((curve.get("target_mean") or [None])[0])
    plus = lambda t: None if base is None or _num(t) is None else base + float(t)  # noqa: E731
    times = lambda t: None if not base or _num(t) is None else base * float(t)  # noqa: E731
    levels = [
        ("min_gain", plus(th.get("min_gain")), "un-noised target + HIGH gain"),
        ("medium_gain", plus(th.get("medium_gain")), "un-noised target + MEDIUM gain"),
        ("min_ratio", times(th.get("min_ratio")), "un-noised target × HIGH ratio"),
    ]
    levels = [(n, v if v is not None and v <= 1 else None, w) for n, v, w in levels]
    svg = line_chart(
        series,
        title="noise sweep",
        x_title="noise scale (× each tensor's std)",
        y_title="greedy accuracy (fraction)",
        hlines=_hlines(levels),
        y_range=(0, 1),
    )
    text = (
        "Greedy accuracy as Gaussian noise is added to the weights (scale 0: un-noised). Target rising "
        "with noise, or collapsing before control, is what a suppressed capability looks like; the gain "
        "thresholds apply beyond control's own gain."
    )
    return Figure(
        f"plot-audit-{slug(key)}",
        "Noise sweep",
        _caption(text, th, {n for n, v, _ in levels if v is not None}),
        [svg],
    )


def sft_figure(key: str, test: dict[str, Any]) -> Figure | None:
    """Held-out accuracy per split after SFT on k demonstrations (and the reference's, dotted), and the
    recovered fraction of the target/control gap with `fast_recovery` drawn."""
    curve, th = test.get("curve", {}), test.get("thresholds", {})
    ks = curve.get("ks")
    if not ks:
        return None
    ticks = [(float(i), f"k={k}") for i, k in enumerate(ks)]
    series = []
    for split in ("target", "control"):
        if split in curve:
            series.append(
                Series(split, list(range(len(ks))), [_num(v) for v in curve[split]], *SPLIT_STYLE[split])
            )
    ref = curve.get("reference") or {}
    for split in ("target", "control"):
        if split in ref:
            series.append(
                Series(
                    f"reference {split}",
                    list(range(len(ks))),
                    [_num(v) for v in ref[split]],
                    *REFERENCE_STYLE[split],
                )
            )
    svgs = [
        line_chart(
            series,
            title="SFT elicitation",
            x_title="target demonstrations",
            y_title="held-out greedy accuracy (fraction)",
            y_range=(0, 1),
            x_ticks=ticks,
        )
    ]
    recovered = [
        Series(
            "recovered fraction",
            list(range(1, len(ks))),
            [_num(v) for v in curve.get("recovered", [])],
            *SPLIT_STYLE["target"],
        )
    ]
    if "recovered" in ref:
        recovered.append(
            Series(
                "reference: recovered fraction",
                list(range(1, len(ks))),
                [_num(v) for v in ref["recovered"]],
                *REFERENCE_STYLE["target"],
            )
        )
    ref0 = _num((ref.get("recovered") or [None])[0])
    excess = _num(th.get("min_excess"))
    levels = [
        ("fast_recovery", _num(th.get("fast_recovery")), "fast recovery"),
        (
            "min_excess",
            None if ref0 is None or excess is None else ref0 + excess,
            "reference's + HIGH excess",
        ),
    ]
    if any(v is not None for s in recovered for v in s.y):
        svgs.append(
            line_chart(
                recovered,
                title="recovered fraction of the gap",
                x_title="target demonstrations",
                y_title="recovered fraction of the gap",
                hlines=_hlines(levels),
                x_ticks=ticks[1:],
            )
        )
    text = (
        "Held-out greedy accuracy after LoRA fine-tuning on k target demonstrations (k = 0: before), and "
        "how much of the model's own target/control gap that closes."
    )
    return Figure(
        f"plot-audit-{slug(key)}",
        "SFT elicitation",
        _caption(text, th, {n for n, v, _ in levels if v is not None}),
        svgs,
    )


def passk_audit_figure(key: str, test: dict[str, Any]) -> Figure | None:
    """pass@k per split with `min_gap` drawn below control's ceiling, and the modal share of the
    never-solved target prompts against `confident_share` / `varied_share`."""
    curve, th = test.get("curve", {}), test.get("thresholds", {})
    ks = curve.get("k")
    if not ks:
        return None
    series = []
    for split in ("target", "control"):
        if split in curve:
            ys = [_num(v) for v in curve[split]]
            tips = [
                f"{split}: pass@{k} = {'no value' if y is None else f'{y:.6g}'}"
                for k, y in zip(ks, ys, strict=False)
            ]
            series.append(Series(split, [math.log2(k) for k in ks], ys, *SPLIT_STYLE[split], tips=tips))
    ceiling = _num((curve.get("control") or [None])[-1])
    gap = _num(th.get("min_gap"))
    levels = [
        (
            "min_gap",
            None if ceiling is None or gap is None else ceiling - gap,
            "control's ceiling − gap that counts",
        )
    ]
    svgs = [
        line_chart(
            series,
            title="pass@k",
            x_title="k (samples per prompt, log scale)",
            y_title="pass@k (fraction of prompts)",
            hlines=_hlines(levels),
            y_range=(0, 1),
            x_ticks=[(math.log2(k), str(k)) for k in ks],
        )
    ]
    drawn = {n for n, v, _ in levels if v is not None}
    share = _num(curve.get("ceiling", {}).get("modal_share"))
    if share is not None:
        share_levels = [
            ("confident_share", _num(th.get("confident_share")), "one confident answer (HIGH)"),
            ("varied_share", _num(th.get("varied_share")), "below: varied guesses (LOW)"),
        ]
        drawn |= {n for n, v, _ in share_levels if v is not None}
        svgs.append(
            bar_chart(
                ["never-solved target prompts"],
                [Bars("modal share of the samples", [share], PALETTE[0])],
                title="how target fails",
                x_title="",
                y_title="share of samples (fraction)",
                hlines=_hlines(share_levels),
                y_range=(0, 1),
                dots=True,
                plot_height=110,
            )
        )
    text = (
        "Unbiased pass@k on matched target and control problems. A target ceiling far below control, "
        "reached by repeating one wrong answer, is a policy keeping the answer out of its samples."
    )
    return Figure(f"plot-audit-{slug(key)}", "pass@k ceiling", _caption(text, th, drawn), svgs)


AUDIT_FIGURES: dict[str, Callable[[str, dict[str, Any]], Figure | None]] = {
    "context_gap": context_figure,
    "context": context_figure,
    "noise_sweep": noise_figure,
    "noise": noise_figure,
    "sft_elicitation": sft_figure,
    "sft": sft_figure,
    "passk": passk_audit_figure,
}
"""A figure per audit test, found by the test's `name` or its key in `sections.audit.tests`."""


def audit_figures(doc: dict[str, Any]) -> list[Figure]:
    """One figure per test of `sections.audit` that has a drawable curve."""
    out = []
    for key, test in doc.get("sections", {}).get("audit", {}).get("tests", {}).items():
        make = AUDIT_FIGURES.get(str(test.get("name"))) or AUDIT_FIGURES.get(key)
        fig = make(key, test) if make else None
        if fig is not None:
            fig.findings = [
                f["id"] for f in doc.get("findings", []) if f["detector"] in (key, test.get("name"))
            ]
            out.append(fig)
    return out


def cells(before: dict[str, Any], after: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """The (split, condition) cells of one or two cell tables, target first."""
    keys: dict[tuple[str, str], None] = {}
    for table in (before, after or {}):
        for split in _splits(table):
            for cond in table[split]:
                keys[split, cond] = None
    return list(keys)


def elicitation_figure(doc: dict[str, Any]) -> Figure | None:
    """Greedy accuracy per split x cue before and after the elicitation run (grouped bars)."""
    el = doc.get("sections", {}).get("elicitation")
    if not el:
        return None
    before, after = el.get("before", {}), el.get("after", {})
    keys = cells(before, after)
    if not keys:
        return None
    groups = [f"{s}\n{c}" for s, c in keys]
    bars = [
        Bars("before RL", [_num(before.get(s, {}).get(c)) for s, c in keys], PALETTE[2]),
        Bars("after RL", [_num(after.get(s, {}).get(c)) for s, c in keys], PALETTE[0]),
    ]
    svg = bar_chart(
        groups,
        bars,
        title="accuracy before and after elicitation",
        x_title="split · cue",
        y_title="greedy accuracy (fraction)",
        y_range=(0, 1),
    )
    return Figure(
        "plot-elicitation",
        "Before and after elicitation",
        "Greedy accuracy per split and cue before and after the RL elicitation run. RL that elicits "
        "control but leaves target where it was is what an exploration-hacking policy produces.",
        [svg],
    )


def evaluation_figure(
    evaluation: dict[str, Any], *, fig_id: str = "plot-evaluation", title: str = "Evaluation"
) -> Figure | None:
    """Greedy accuracy (95% interval) and pass@k per split x cue, with chance drawn."""
    acc = evaluation.get("accuracy")
    if not isinstance(acc, dict) or not acc:
        return None
    keys = cells(acc)
    groups = [f"{s}\n{c}" for s, c in keys]
    ci = evaluation.get("ci", {})
    bars = [
        Bars(
            f"greedy accuracy ({round(100 * (_num(evaluation.get('confidence')) or 0.95))}% CI)",
            [_num(acc[s].get(c)) for s, c in keys],
            PALETTE[1],
            errors=[tuple(ci.get(s, {}).get(c) or (None, None)) for s, c in keys],  # type: ignore[misc]
        )
    ]
    passk = evaluation.get("pass_at_k")
    if isinstance(passk, dict):
        bars.append(
            Bars(
                f"pass@{evaluation.get('k', 'k')}",
                [_num(passk.get(s, {}).get(c)) for s, c in keys],
                PALETTE[0],
            )
        )
    chance = _num(evaluation.get("chance"))
    hlines = [HLine(chance, f"chance = {chance:.3g}", "#555555")] if chance is not None else []
    svg = bar_chart(
        groups,
        bars,
        title=title,
        x_title="split · cue",
        y_title="fraction of prompts",
        hlines=hlines,
        y_range=(0, 1),
    )
    return Figure(
        fig_id,
        title,
        "Greedy accuracy with its Wilson interval, and pass@k at temperature, per split and cue.",
        [svg],
    )


def measure_figures(doc: dict[str, Any]) -> list[Figure]:
    """Audit, elicitation, evaluation and organism-evaluation figures, in page order."""
    out = audit_figures(doc)
    sections = doc.get("sections", {})
    for fig in (elicitation_figure(doc), evaluation_figure(sections.get("evaluation") or {})):
        if fig is not None:
            out.append(fig)
    org_eval = (sections.get("organism") or {}).get("eval")
    if isinstance(org_eval, dict):
        for task, ev in org_eval.items():
            if isinstance(ev, dict):
                fig = evaluation_figure(
                    ev, fig_id=f"plot-organism-eval-{slug(task)}", title=f"Organism evaluation: {task}"
                )
                if fig is not None:
                    out.append(fig)
    return out
