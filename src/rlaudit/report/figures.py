"""The monitor's figures, drawn from `sections.signals` of a judgement's JSON (never from live objects).

One figure per step signal (every column of `sections.signals.columns` that has a value somewhere),
with one line per run x split, pooled over conditions (`condition = "*"`); chance companions drawn on
the plot they belong to (`expected_homogeneous` on `frac_reward_zero_std`, `expected_all_fail` on
`frac_all_fail`); the cue lines (split x condition) on the plots where a cue matters (`CUE_COLUMNS`,
and every plot a finding links to); pass@k over k at the last step (the `pass_at_*` columns); the
reward components, one labelled line each.

A figure's id is ``plot-<signal>`` (made safe for an HTML id by `slug`): a finding whose `signal`
names a column links there. The columns folded into another figure (the chance companions, pass@k)
get an anchor inside it, so every signal a finding can name has a target. Only a finding's own step
window is shaded, and only on the plot of its own signal.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from rlaudit.report.svg import DASHES, PALETTE, Band, Series, exact, line_chart

POOLED = "*"
UNLABELLED = "all"
SEVERITY_COLOURS = {"high": "#b71c1c", "medium": "#e65100", "low": "#827717", "info": "#607d8b"}
BAND_OPACITY = {"high": 0.2, "medium": 0.17, "low": 0.1, "info": 0.08}
SPLIT_ORDER = ("target", "control", UNLABELLED)
FIRST_COLUMNS = (
    "reward_mean",
    "pass_rate",
    "frac_reward_zero_std",
    "frac_all_fail",
    "frac_all_pass",
    "reward_std",
    "entropy",
    "unique_frac",
    "distinct_1",
    "distinct_2",
    "pairwise_sim",
    "length_mean",
)
"""Plot order: the exploration signals first; any other column follows in the JSON's order."""
COMPANIONS = {"expected_homogeneous": "frac_reward_zero_std", "expected_all_fail": "frac_all_fail"}
"""Chance-level columns drawn (dotted, in their split's colour) on the plot of the signal they predict."""
CUE_COLUMNS = ("reward_mean", "pass_rate")
"""Plots that also get one line per split x condition, when conditions were logged (the cue gap)."""
PASS_AT = re.compile(r"^pass_at_(\d+)$")


@dataclass
class Figure:
    """A figure of the page: `svgs` are complete `<svg>` strings (all text in them escaped)."""

    id: str
    title: str
    caption: str
    svgs: list[str]
    anchors: list[str] = field(default_factory=list)
    """Further ids inside the figure (columns folded into it), so links to them land here."""
    findings: list[str] = field(default_factory=list)
    """Ids of the findings shaded or drawn on it."""


def slug(name: str) -> str:
    """A name made safe for an HTML id and a `#fragment`: [A-Za-z0-9_-] only; a name that had to be
    changed gets a short hash, so two different names never share an id."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", str(name))[:60]
    if safe == name and safe:
        return safe
    return f"{safe}-{hashlib.sha256(str(name).encode('utf-8')).hexdigest()[:8]}"


@dataclass(frozen=True)
class _Key:
    run: str
    split: str
    condition: str


@dataclass
class _Ctx:
    """What every signal figure of one doc shares: the series, their styles, the findings."""

    steps: dict[str, Any]
    columns: dict[str, Any]
    keys: list[_Key]
    style: dict[_Key, tuple[str, str]]
    findings: list[dict[str, Any]]

    @property
    def n_runs(self) -> int:
        return len(self.steps)


def signal_figures(doc: dict[str, Any]) -> list[Figure]:
    """Every figure of `sections.signals` (empty list when the section is absent or has no values)."""
    sig = doc.get("sections", {}).get("signals")
    if not sig:
        return []
    steps = sig.get("steps", {})
    columns = dict(sig.get("columns", {}))
    for run in steps.values():  # a column with no doc entry is still plotted
        for split in run.values():
            for series in split.values():
                columns.update(
                    {c: {"doc": "", "unit": ""} for c in series if c not in columns and c != "step"}
                )
    keys = _series_keys(steps)
    style = {k: (PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]) for i, k in enumerate(keys)}
    ctx = _Ctx(steps, columns, keys, style, doc.get("findings", []))
    ordered = [c for c in FIRST_COLUMNS if c in columns] + [c for c in columns if c not in FIRST_COLUMNS]
    folded = {c for c in columns if (c in COMPANIONS and COMPANIONS[c] in columns) or PASS_AT.match(c)}
    out = [fig for c in ordered if c not in folded and (fig := _signal_figure(ctx, c)) is not None]
    for extra in (passk_figure(ctx), components_figure(sig.get("components", {}), ctx.findings)):
        if extra is not None:
            out.append(extra)
    return out


def _signal_figure(ctx: _Ctx, column: str) -> Figure | None:
    """One step signal: a line per run x split (and cue lines where a cue matters), its chance
    companion, and the step window of each finding resting on it."""
    cue = column in CUE_COLUMNS or any(f.get("signal") == column for f in ctx.findings)
    pooled = [k for k in ctx.keys if k.condition == _pooled(ctx.steps, k)]
    cued = [k for k in ctx.keys if cue and k.condition not in (POOLED, UNLABELLED) and k not in pooled]
    series = [_line(ctx.steps, k, column, ctx.style[k], ctx.n_runs) for k in pooled + cued]
    companions = [c for c, host in COMPANIONS.items() if host == column and c in ctx.columns]
    series += [_chance(ctx.steps, k, c, ctx.style[k][0], ctx.n_runs) for c in companions for k in pooled]
    series = [s for s in series if any(v is not None for v in s.y)]
    if not series:
        return None
    meta = ctx.columns[column]
    bands, shaded = _bands(ctx.findings, column)
    svg = line_chart(
        series,
        title=f"{column} per step",
        x_title="step",
        y_title=meta.get("unit") or column,
        bands=bands,
        y_range=_unit_range(series),
    )
    caption = _sentence(meta.get("doc") or "")
    if companions:
        caption += " Dotted: what chance predicts for groups of independent samples at the step's pass rate."
    anchors = [f"plot-{slug(c)}" for c in companions]
    return Figure(f"plot-{slug(column)}", column, caption, [svg], anchors, shaded)


def _series_keys(steps: dict[str, Any]) -> list[_Key]:
    """Every run x split x condition, splits in `SPLIT_ORDER` then by name, the pooled one first."""
    keys = []
    for run, splits in steps.items():
        for split in sorted(splits, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 9, s)):
            conds = sorted(splits[split], key=lambda c: (c != POOLED, c))
            keys += [_Key(run, split, c) for c in conds]
    # Pooled lines take the first colours and dashes (they are on every plot), cue lines the next.
    return sorted(keys, key=lambda k: k.condition != _pooled(steps, k))


def _pooled(steps: dict[str, Any], k: _Key) -> str:
    """The condition that stands for a split as a whole: "*" (pooled), or its only condition."""
    conds = steps[k.run][k.split]
    return POOLED if POOLED in conds else sorted(conds)[0]


def _name(k: _Key, n_runs: int, pooled: bool) -> str:
    name = k.split if pooled else f"{k.split} · {k.condition}"
    return f"{k.run} / {name}" if n_runs > 1 else name


def _values(seq: list[Any]) -> list[float | None]:
    return [float(v) if isinstance(v, int | float) and math.isfinite(v) else None for v in seq]


def _line(steps: dict[str, Any], k: _Key, column: str, style: tuple[str, str], n_runs: int) -> Series:
    data = steps[k.run][k.split][k.condition]
    pooled = k.condition == _pooled(steps, k)
    return Series(
        _name(k, n_runs, pooled),
        data["step"],
        _values(data.get(column, [None] * len(data["step"]))),
        style[0],
        style[1],
        width=1.8 if pooled else 1.3,
    )


def _chance(steps: dict[str, Any], k: _Key, column: str, colour: str, n_runs: int) -> Series:
    data = steps[k.run][k.split][k.condition]
    return Series(
        f"{_name(k, n_runs, True)}: chance ({column})",
        data["step"],
        _values(data.get(column, [None] * len(data["step"]))),
        colour,
        "1.5 3",
        markers=False,
        width=1.3,
    )


def _bands(findings: list[dict[str, Any]], signal: str) -> tuple[list[Band], list[str]]:
    """A shaded window for each finding on `signal` with steps; the ids of every finding on it."""
    bands, ids = [], []
    for f in findings:
        if f.get("signal") != signal:
            continue
        ids.append(f["id"])
        if f.get("steps"):
            x0, x1 = sorted(f["steps"])
            where = f" ({f['split']})" if f.get("split") else ""
            sev = f.get("severity", "info")
            bands.append(
                Band(
                    x0 - 0.5,
                    x1 + 0.5,
                    f"{f['id']} {f['detector']}{where}: steps {x0}–{x1}",
                    SEVERITY_COLOURS.get(sev, "#607d8b"),
                    BAND_OPACITY.get(sev, 0.1),
                )
            )
    return bands, ids


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _unit_range(series: list[Series]) -> tuple[float, float] | None:
    """[0, 1] when every value is a fraction, so fractions read the same on every plot; else automatic."""
    values = [v for s in series for v in s.y if v is not None]
    return (0.0, 1.0) if values and min(values) >= 0 and max(values) <= 1 else None


def _last_values(data: dict[str, Any], columns: list[str]) -> tuple[int, list[float | None]] | None:
    """The last step at which any of `columns` has a value, and their values there."""
    for i in range(len(data["step"]) - 1, -1, -1):
        row = [_values([data.get(c, [None] * len(data["step"]))[i]])[0] for c in columns]
        if any(v is not None for v in row):
            return int(data["step"][i]), row
    return None


def passk_figure(ctx: _Ctx) -> Figure | None:
    """pass@k over k at each split's last step with a value (pass@1 is `pass_rate`); a k larger than
    every group has no value anywhere and gets no room on the axis."""
    ks = [1, *sorted(int(m.group(1)) for c in ctx.columns if (m := PASS_AT.match(c)))]
    if len(ks) == 1:
        return None
    names = ["pass_rate", *(f"pass_at_{k}" for k in ks[1:])]
    rows = []
    for key in ctx.keys:
        if key.condition == _pooled(ctx.steps, key):
            last = _last_values(ctx.steps[key.run][key.split][key.condition], names)
            if last is not None:
                rows.append((key, *last))
    shown = [i for i in range(len(ks)) if any(values[i] is not None for _, _, values in rows)]
    series = []
    for key, step, values in rows:
        label = f"{_name(key, ctx.n_runs, True)} (step {step})"
        ys = [values[i] for i in shown]
        tips = [f"{label}: pass@{ks[i]} = {exact(values[i])}" for i in shown]
        series.append(Series(label, [math.log2(ks[i]) for i in shown], ys, *ctx.style[key], tips=tips))
    if not series:
        return None
    svg = line_chart(
        series,
        title="pass@k at the last step",
        x_title="k (samples per prompt, log scale)",
        y_title="pass@k (fraction of groups)",
        y_range=(0.0, 1.0),
        x_ticks=[(math.log2(ks[i]), str(ks[i])) for i in shown],
    )
    return Figure(
        "plot-pass_at_k",
        "pass@k at the last step",
        "Unbiased pass@k within GRPO groups at each split's last step (k = 1 is the pass rate; k larger "
        "than the group size has no value). A policy that can solve a task but will not explore shows a "
        "low pass@1 and a steep rise with k.",
        [svg],
        [f"plot-{slug(c)}" for c in ctx.columns if PASS_AT.match(c)],
    )


def components_figure(components: dict[str, Any], findings: list[dict[str, Any]]) -> Figure | None:
    """The mean of each reward component per step, one labelled line per run x component."""
    several = len(components) > 1
    series: list[Series] = []
    for run, comps in components.items():
        for component, data in comps.items():
            j = len(series)
            series.append(
                Series(
                    f"{run} / {component}" if several else str(component),
                    data["step"],
                    _values(data.get("mean", [])),
                    PALETTE[j % len(PALETTE)],
                    DASHES[j % len(DASHES)],
                )
            )
    series = [s for s in series if any(v is not None for v in s.y)]
    if not series:
        return None
    bands, ids = _bands(findings, "components")
    svg = line_chart(
        series,
        title="reward components per step",
        x_title="step",
        y_title="mean reward component",
        bands=bands,
        y_range=_unit_range(series),
    )
    return Figure(
        "plot-components",
        "Reward components",
        "Mean of each reward component per step (one line per reward function); the total reward is "
        "their weighted sum.",
        [svg],
        findings=ids,
    )
