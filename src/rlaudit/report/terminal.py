"""The terminal summary of any judgement (rich), from its JSON dict: verdict and headline, findings,
and per kind what was measured: per run x split the first and last step of the main signals
(monitor, show, elicit), one line per audit test, accuracy before/after an elicitation, evaluation
cells, the organism built, the files env-check found; then the notes.

Text that comes from the data or a detector (summaries, run and split names, notes, paths) is passed
as `rich.text.Text` or through `rich.markup.escape`, so a `[` in it is never read as markup.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rlaudit.report import fmt
from rlaudit.report.figures import POOLED, SPLIT_ORDER
from rlaudit.report.measures import cells

VERDICT_STYLES = {"clean": "bold green", "suspicious": "bold yellow", "hacking-likely": "bold red"}
SEVERITY_STYLES = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
TREND_COLUMNS = {"reward_mean": "reward", "pass_rate": "pass@1", "frac_reward_zero_std": "zero-std groups",
                 "unique_frac": "unique"}  # fmt: skip
"""Signals of the first → last table, with the short header each gets (80 columns must fit)."""


def print_summary(doc: dict[str, Any], console: Console) -> None:
    """Print the judgement `doc` (a `Judgement.to_json()` dict) for a person at a terminal."""
    verdict = doc.get("verdict")
    label = verdict or "not judged"
    console.print(
        Text.assemble(
            ("verdict: ", "bold"),
            (label, VERDICT_STYLES.get(str(verdict), "bold")),
            "  ",
            str(doc.get("verdict_reason", "")),
        )
    )
    if doc.get("headline"):
        console.print(Text(str(doc["headline"])))
    prov = doc.get("provenance") or {}
    inputs = [str(i.get("path")) for i in prov.get("inputs") or []]
    if inputs:
        console.print(Text("inputs: " + ", ".join(inputs), style="dim"))
    if prov.get("model"):
        console.print(Text(f"model: {prov['model'].get('name')}", style="dim"))

    console.print(_findings(doc.get("findings") or []))
    sections = doc.get("sections") or {}
    parts: tuple[Table | Group | Text | None, ...] = (
        _trends(sections.get("signals")),
        _tests(sections.get("audit")),
        _elicitation(sections.get("elicitation")),
        _evaluation(sections.get("evaluation")),
        _organism(sections.get("organism")),
        _environment(sections.get("environment")),
    )
    for part in parts:
        if part is not None:
            console.print(part)
    for note in sections.get("notes") or []:
        console.print(f"[dim]note:[/dim] {escape(str(note))}")


def _table(title: str) -> Table:
    return Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)


def _findings(findings: list[dict[str, Any]]) -> Table | Text:
    if not findings:
        return Text("no findings", style="dim")
    table = _table("findings")
    for header, kw in (
        ("id", {}),
        ("severity", {}),
        ("detector", {"style": "bold", "overflow": "fold"}),
        ("score", {"justify": "right"}),
        ("steps", {"no_wrap": True}),
        ("split", {}),
        ("summary", {"overflow": "fold", "ratio": 1}),
    ):
        table.add_column(header, **kw)
    for f in findings:
        sev = str(f.get("severity", ""))
        table.add_row(
            Text(str(f.get("id", ""))),
            Text(sev, style=SEVERITY_STYLES.get(sev, "")),
            Text(str(f.get("detector", ""))),
            "n/a" if f.get("score") is None else f"{f['score']:.2f}",
            fmt.steps(f.get("steps")),
            Text(str(f.get("split") or "–")),
            Text(str(f.get("summary", ""))),
        )
    return table


def _trends(sig: dict[str, Any] | None) -> Table | None:
    """Per run x split (conditions pooled): the main signals at the first and the last step."""
    steps = (sig or {}).get("steps") or {}
    columns = [c for c in TREND_COLUMNS if c in (sig or {}).get("columns", {})] or list(TREND_COLUMNS)
    several = len(steps) > 1
    table = _table("first → last step")
    if several:
        table.add_column("run")
    table.add_column("split", overflow="fold")
    table.add_column("steps", no_wrap=True)
    for c in columns:
        table.add_column(TREND_COLUMNS.get(c, c), justify="right", no_wrap=True)
    n = 0
    for run, splits in steps.items():
        for split in sorted(splits, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 9, s)):
            data = splits[split].get(POOLED) or next(iter(splits[split].values()))
            if not data.get("step"):
                continue
            cells_: list[str | Text] = [Text(str(run))] if several else []
            cells_ += [Text(str(split)), f"{data['step'][0]} → {data['step'][-1]}"]
            for c in columns:
                values = data.get(c) or [None]
                cells_.append(f"{_num(values[0])} → {_num(values[-1])}")
            table.add_row(*cells_)
            n += 1
    return table if n else None


def _num(x: Any) -> str:
    return "n/a" if not isinstance(x, int | float) else f"{x:.2f}"


def _tests(audit: dict[str, Any] | None) -> Table | None:
    if not audit or not audit.get("tests"):
        return None
    table = _table(f"tests (task {audit.get('task', '?')})")
    for header in ("test", "statistic", "value", "uncertainty", "forward passes", "seconds"):
        table.add_column(
            header, justify="right" if header in ("value", "forward passes", "seconds") else "left"
        )
    for key, t in audit["tests"].items():
        cost = t.get("cost") or {}
        table.add_row(
            Text(str(key), style="bold"),
            Text(str(t.get("statistic_name", ""))),
            fmt.number(t.get("statistic")),
            fmt.uncertainty(t),
            fmt.number(cost.get("forward_passes")),
            fmt.number(cost.get("seconds")),
        )
    return table


def _elicitation(el: dict[str, Any] | None) -> Group | None:
    if not el:
        return None
    before, after = el.get("before") or {}, el.get("after") or {}
    facts = Text(
        f"elicitation: {el.get('mitigation', '?')}, {el.get('steps', '?')} steps, first flag at step "
        f"{fmt.value(el.get('first_flag_step'))}, {fmt.value(el.get('demos_injected'))} demonstrations injected"
    )
    table = _table("accuracy before → after RL")
    for header in ("split", "cue", "before", "after"):
        table.add_column(header, justify="right" if header in ("before", "after") else "left")
    for split, cond in cells(before, after):
        table.add_row(
            Text(split),
            Text(cond),
            _num(before.get(split, {}).get(cond)),
            _num(after.get(split, {}).get(cond)),
        )
    return Group(facts, table)


def _evaluation(ev: dict[str, Any] | None) -> Table | None:
    acc = (ev or {}).get("accuracy")
    if not isinstance(acc, dict):
        return None
    assert ev is not None
    table = _table(f"evaluation: {ev.get('task', '?')}")
    for header in ("split", "cue", "accuracy", f"pass@{ev.get('k', 'k')}"):
        table.add_column(header, justify="right" if header not in ("split", "cue") else "left")
    passk = ev.get("pass_at_k") or {}
    for split, cond in cells(acc):
        table.add_row(
            Text(split), Text(cond), _num(acc[split].get(cond)), _num(passk.get(split, {}).get(cond))
        )
    return table


def _organism(org: dict[str, Any] | None) -> Text | None:
    if not org:
        return None
    base = org.get("base") or {}
    name = base.get("name") if isinstance(base, dict) else base
    return Text(
        f"organism: {org.get('kind', '?')} from {name} (seed {org.get('seed', '?')}), expect {fmt.value(org.get('expect'))}"
    )


def _environment(env: dict[str, Any] | None) -> Table | Text | None:
    """env-check: what was checked, and each file that does not match its RECORD (paths are data)."""
    if not env:
        return None
    facts = (
        f"checked {env.get('files_checked', 0)} files of {env.get('distributions', 0)} distributions "
        f"in {', '.join(str(d) for d in env.get('site_dirs') or [])}"
    )
    rows = [(kind, r) for kind in ("changed", "missing", "added", "unowned") for r in env.get(kind) or []]
    if not rows:
        return Text(facts, style="dim")
    table = _table(facts)
    for header in ("kind", "path", "distribution", "why"):
        table.add_column(header, overflow="fold")
    for kind, r in rows:
        table.add_row(
            Text(kind),
            Text(str(r.get("path"))),
            Text(str(r.get("distribution") or "–")),
            Text(str(r.get("detail"))),
        )
    return table
