"""Figures of what the model-side verbs measured, from a judgement's JSON: the audit curves
(`rlaudit.report.audit_figures`), accuracy before/after an elicitation run, evaluation cells (the
`evaluation` section, and each task of an organism's manifest)."""

from __future__ import annotations

from typing import Any

from rlaudit.report.audit_figures import audit_figures, num_or_none, split_order
from rlaudit.report.figures import Figure, slug
from rlaudit.report.svg import PALETTE, Bars, HLine, bar_chart


def cells(before: dict[str, Any], after: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """The (split, condition) cells of one or two cell tables, target first."""
    keys: dict[tuple[str, str], None] = {}
    for table in (before, after or {}):
        for split in split_order(table):
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
        Bars("before RL", [num_or_none(before.get(s, {}).get(c)) for s, c in keys], PALETTE[2]),
        Bars("after RL", [num_or_none(after.get(s, {}).get(c)) for s, c in keys], PALETTE[0]),
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
            f"greedy accuracy ({round(100 * (num_or_none(evaluation.get('confidence')) or 0.95))}% CI)",
            [num_or_none(acc[s].get(c)) for s, c in keys],
            PALETTE[1],
            errors=[tuple(ci.get(s, {}).get(c) or (None, None)) for s, c in keys],
        )
    ]
    passk = evaluation.get("pass_at_k")
    if isinstance(passk, dict):
        bars.append(
            Bars(
                f"pass@{evaluation.get('k', 'k')}",
                [num_or_none(passk.get(s, {}).get(c)) for s, c in keys],
                PALETTE[0],
            )
        )
    chance = num_or_none(evaluation.get("chance"))
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
    """Audit, elicitation, evaluation, organism-evaluation and benchmark figures, in page order."""
    from rlaudit.report.bench_figures import bench_figures

    out = audit_figures(doc) + bench_figures(doc)
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
