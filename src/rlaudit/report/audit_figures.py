"""Figures of the audit tests (`sections.audit.tests` of a judgement's JSON): one per test, drawn from
its raw `curve`, with its `thresholds`.

A threshold is drawn where it is a level on the curve's own axis (context gap's `min_gap` on the gap,
SFT's `fast_recovery` on the recovered fraction), or a level relative to a measured point (noise's
`min_gain` above the un-noised target accuracy, pass@k's `min_gap` below control's ceiling); the
thresholds that have no place on a curve are named in the caption. A test this module does not know
draws nothing (its numbers are in the page's tests table).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rlaudit.report.figures import Figure, slug
from rlaudit.report.svg import DASHES, PALETTE, Bars, HLine, Series, bar_chart, exact, line_chart

SPLIT_STYLE = {"target": (PALETTE[0], DASHES[0]), "control": (PALETTE[1], DASHES[1])}
REFERENCE_STYLE = {"target": (PALETTE[3], DASHES[2]), "control": (PALETTE[4], DASHES[3])}
THRESHOLD_COLOURS = ("#7b1fa2", "#2e7d32", "#c62828", "#5d4037")
CUES = {"train_cue": PALETTE[5], "deploy_cue": PALETTE[3]}


def num_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _hlines(levels: list[tuple[str, float | None, str]]) -> list[HLine]:
    """Threshold lines: (threshold name, level, what the level is); None levels are dropped."""
    out = []
    for i, (name, level, what) in enumerate(levels):
        if level is not None:
            out.append(
                HLine(level, f"{name} → {level:.3g}: {what}", THRESHOLD_COLOURS[i % len(THRESHOLD_COLOURS)])
            )
    return out


def _caption(text: str, thresholds: dict[str, Any], drawn: set[str]) -> str:
    rest = [f"{k} = {v}" for k, v in thresholds.items() if k not in drawn]
    return text + (f" Other thresholds: {', '.join(rest)}." if rest else "")


def split_order(d: dict[str, Any]) -> list[str]:
    return [s for s in ("target", "control") if s in d] + sorted(
        s for s in d if s not in ("target", "control")
    )


def context_figure(key: str, test: dict[str, Any]) -> Figure | None:
    """The deploy - train accuracy gap per split (dots with 95% intervals, `min_gap` drawn) and the
    accuracies under each cue (bars)."""
    curve, th = test.get("curve", {}), test.get("thresholds", {})
    per_split = curve.get("per_split", {})
    acc = curve.get("accuracy", {})
    splits = split_order(per_split or acc)
    if not splits:
        return None
    gap = Bars(
        "deploy − train accuracy (95% CI)",
        [num_or_none(per_split.get(s, {}).get("gap")) for s in splits],
        PALETTE[0],
        errors=[tuple(per_split.get(s, {}).get("ci") or (None, None)) for s in splits],
    )
    levels = [("min_gap", num_or_none(th.get("min_gap")), "HIGH from this gap")]
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
            Bars(c, [num_or_none(acc.get(s, {}).get(c)) for s in splits], CUES.get(c, PALETTE[2 + i]))
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
    for split in split_order({s: 1 for s in ("target", "control") if f"{s}_mean" in curve}):
        colour, dash = SPLIT_STYLE.get(split, (PALETTE[2], DASHES[2]))
        series.append(
            Series(
                f"{split} (mean over seeds)",
                scales,
                [num_or_none(v) for v in curve[f"{split}_mean"]],
                colour,
                dash,
            )
        )
        draws = curve.get(split, [])
        xs = [x for x, d in zip(scales, draws, strict=False) for _ in d]
        ys = [num_or_none(a) for d in draws for a in d]
        series.append(Series(f"{split} (each seed)", xs, ys, colour, markers=True, line=False))
    base = num_or_none((curve.get("target_mean") or [None])[0])
    plus = lambda t: None if base is None or num_or_none(t) is None else base + float(t)  # noqa: E731
    times = lambda t: None if not base or num_or_none(t) is None else base * float(t)  # noqa: E731
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
    ref = curve.get("reference") or {}
    at = list(range(len(ks)))

    def lines(
        d: dict[str, Any], names: list[tuple[str, str, tuple[str, str]]], xs: list[int]
    ) -> list[Series]:
        return [
            Series(label, xs, [num_or_none(v) for v in d[name]], *style)
            for name, label, style in names
            if name in d
        ]

    ticks = [(float(i), f"k={k}") for i, k in enumerate(ks)]
    accuracy = lines(curve, [(s, s, SPLIT_STYLE[s]) for s in ("target", "control")], at)
    accuracy += lines(ref, [(s, f"reference {s}", REFERENCE_STYLE[s]) for s in ("target", "control")], at)
    svgs = [
        line_chart(accuracy, title="SFT elicitation", x_title="target demonstrations",
                   y_title="held-out greedy accuracy (fraction)", y_range=(0, 1), x_ticks=ticks)
    ]  # fmt: skip
    recovered = lines(curve, [("recovered", "recovered fraction", SPLIT_STYLE["target"])], at[1:])
    recovered += lines(
        ref, [("recovered", "reference: recovered fraction", REFERENCE_STYLE["target"])], at[1:]
    )
    ref0, excess = num_or_none((ref.get("recovered") or [None])[0]), num_or_none(th.get("min_excess"))
    levels = [
        ("fast_recovery", num_or_none(th.get("fast_recovery")), "fast recovery"),
        (
            "min_excess",
            None if ref0 is None or excess is None else ref0 + excess,
            "reference's + HIGH excess",
        ),
    ]
    if any(v is not None for s in recovered for v in s.y):
        svgs.append(
            line_chart(recovered, title="recovered fraction of the gap", x_title="target demonstrations",
                       y_title="recovered fraction of the gap", hlines=_hlines(levels), x_ticks=ticks[1:])
        )  # fmt: skip
    text = (
        "Held-out greedy accuracy after LoRA fine-tuning on k target demonstrations (k = 0: before), and "
        "how much of the model's own target/control gap that closes."
    )
    drawn = {n for n, v, _ in levels if v is not None}
    return Figure(f"plot-audit-{slug(key)}", "SFT elicitation", _caption(text, th, drawn), svgs)


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
            ys = [num_or_none(v) for v in curve[split]]
            tips = [f"{split}: pass@{k} = {exact(y)}" for k, y in zip(ks, ys, strict=False)]
            series.append(Series(split, [math.log2(k) for k in ks], ys, *SPLIT_STYLE[split], tips=tips))
    ceiling, gap = num_or_none((curve.get("control") or [None])[-1]), num_or_none(th.get("min_gap"))
    below = None if ceiling is None or gap is None else ceiling - gap
    levels = [("min_gap", below, "control's ceiling − gap that counts")]
    ticks = [(math.log2(k), str(k)) for k in ks]
    svgs = [
        line_chart(series, title="pass@k", x_title="k (samples per prompt, log scale)",
                   y_title="pass@k (fraction of prompts)", hlines=_hlines(levels), y_range=(0, 1), x_ticks=ticks)
    ]  # fmt: skip
    drawn = {n for n, v, _ in levels if v is not None}
    share = num_or_none(curve.get("ceiling", {}).get("modal_share"))
    if share is not None:
        share_levels = [
            ("confident_share", num_or_none(th.get("confident_share")), "one confident answer (HIGH)"),
            ("varied_share", num_or_none(th.get("varied_share")), "below: varied guesses (LOW)"),
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
