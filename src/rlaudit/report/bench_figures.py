"""Figures of a ``bench`` judgement: ROC curves of the audit tests and of the monitor's detectors, on
the test build seeds (out of sample) and on the calibration seeds."""

from __future__ import annotations

from typing import Any

from rlaudit.report.figures import Figure
from rlaudit.report.svg import DASHES, PALETTE, Series, line_chart

GROUPS = (
    (
        "audit",
        "Audit tests",
        lambda key: key == "combined" or (key.startswith("audit:") and key.count(":") == 1),
    ),
    ("monitor", "Monitor detectors", lambda key: key.startswith("monitor:")),
)


def bench_figures(doc: dict[str, Any]) -> list[Figure]:
    """One figure per group (audit tests, monitor detectors), one chart per set of build seeds."""
    sections = doc.get("sections", {})
    if doc.get("kind") != "bench" or "test" not in sections:
        return []
    out = []
    for fig_id, title, member in GROUPS:
        svgs = []
        for which, label in (("test", "test seeds (out of sample)"), ("calibration", "calibration seeds")):
            rows = {k: v for k, v in (sections.get(which) or {}).items() if member(k) and v.get("roc")}
            series = [
                Series(
                    f"{key} (AUROC {_n(v['auroc'])})",
                    v["roc"]["fpr"],
                    v["roc"]["tpr"],
                    PALETTE[i % len(PALETTE)],
                    DASHES[i % len(DASHES)],
                )
                for i, (key, v) in enumerate(sorted(rows.items()))
                if v["roc"]["fpr"]
            ]
            if series:
                chase = Series("chance", [0.0, 1.0], [0.0, 1.0], "#999999", "2 2.5", markers=False, width=1.0)
                svgs.append(
                    line_chart(
                        [*series, chase],
                        title=f"{title}: {label}",
                        x_title="false-positive rate",
                        y_title="true-positive rate",
                        y_range=(0.0, 1.0),
                    )
                )
        if svgs:
            caption = (
                "ROC of each score over the cases (organism x audit seed; one elicitation run per organism "
                "for the monitor). Test: build seeds no threshold saw; calibration: in-sample."
            )
            out.append(Figure(f"plot-bench-{fig_id}", f"{title}: ROC", caption, svgs))
    return out


def _n(x: Any) -> str:
    return f"{x:.2f}" if isinstance(x, float) else "n/a"
