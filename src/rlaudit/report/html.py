"""The HTML report of any judgement (monitor, audit, elicit, eval, organism, show), rendered from its
JSON dict alone, so that `rlaudit report RESULT.json --html out.html` re-renders a saved result into
the same page.

The page is one self-contained file with no script at all: charts are inline SVG drawn in Python
(`rlaudit.report.svg`), hover values are SVG `<title>`s, links to plots are `#fragment` anchors. Its
Content-Security-Policy (`CSP`) forbids every script, every network fetch and every image but inline
`data:` ones, so even a payload that escaped the escaping could not run or phone home.

Model and user text (completions, prompts, run/split/component names, summaries, notes, paths) is
untrusted. It reaches the page only through jinja2 autoescape (HTML) or `svg.esc` (inside the SVG
strings, which are the only `Markup` the template receives), and never becomes an id, a URL or a
file name: ids and fragments go through `figures.slug`.

The file is written atomically: a failure leaves no report, and no partial one, behind.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from rlaudit.judgement import write_atomic
from rlaudit.report import fmt
from rlaudit.report.figures import SEVERITY_COLOURS, Figure, signal_figures, slug
from rlaudit.report.measures import cells, measure_figures

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
VERDICT_COLOURS = {"clean": "#2e7d32", "suspicious": "#e65100", "hacking-likely": "#b71c1c"}
NOT_JUDGED = "not judged"
MAX_SAMPLES_PER_GROUP = 12
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


def write_html(doc: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Render the judgement dict `doc` and write it to `path` atomically (temp file, then `os.replace`)."""
    write_atomic(render_html(doc), Path(path))


def render_html(doc: dict[str, Any]) -> str:
    """The report of `doc` (a `Judgement.to_json()` dict, or one read back from JSON) as one HTML string.

    A pure function of `doc`: the same dict, or its JSON round trip, renders the same page.
    """
    sections = doc.get("sections", {})
    signal_figs = signal_figures(doc)
    measure_figs = measure_figures(doc)
    figures = signal_figs + measure_figs
    kind = str(doc.get("kind", "report"))
    return (
        _env()
        .get_template("page.html.j2")
        .render(
            csp=CSP,
            kind=kind,
            title=f"rlaudit {kind} report",
            verdict=doc.get("verdict") or NOT_JUDGED,
            verdict_colour=VERDICT_COLOURS.get(str(doc.get("verdict")), "#455a64"),
            verdict_reason=doc.get("verdict_reason", ""),
            headline=doc.get("headline", ""),
            severity_colours=SEVERITY_COLOURS,
            findings=[_finding(f, _link(f, figures, sections)) for f in doc.get("findings", [])],
            signal_figures=[_fig(f) for f in signal_figs],
            measure_figures=[_fig(f) for f in measure_figs],
            signals=_signals_info(sections.get("signals")),
            ingested=sections.get("ingested") or [],
            families=_families(sections.get("signals")),
            samples=_samples(sections.get("samples") or [], doc.get("findings", [])),
            audit=_audit(sections.get("audit"), figures),
            elicitation=_elicitation(sections.get("elicitation")),
            evaluation=_evaluation(sections.get("evaluation")),
            organism=_organism(sections.get("organism")),
            notes=[str(n) for n in sections.get("notes") or []],
            provenance=_provenance(doc.get("provenance") or {}),
        )
    )


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rlaudit", "report/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _fig(f: Figure) -> dict[str, Any]:
    # The SVG strings are built by rlaudit.report.svg with every text escaped: the only Markup here.
    return {
        "id": f.id,
        "title": f.title,
        "caption": f.caption,
        "svgs": [Markup(s) for s in f.svgs],
        "anchors": f.anchors,
        "findings": f.findings,
    }


def _link(f: dict[str, Any], figures: list[Figure], sections: dict[str, Any]) -> dict[str, str] | None:
    """Where a finding's evidence is drawn: its signal's plot, or its audit test's figure."""
    targets = {i: fig for fig in figures for i in (fig.id, *fig.anchors)}
    if f.get("signal"):
        target = f"plot-{slug(f['signal'])}"
        if target in targets:
            return {"href": f"#{target}", "text": f"plot of {f['signal']}"}
    tests = (sections.get("audit") or {}).get("tests", {})
    for key, test in tests.items():
        if f.get("detector") in (key, test.get("name")):
            target = f"plot-audit-{slug(key)}"
            if target in targets:
                return {"href": f"#{target}", "text": f"curve of the {key} test"}
    return None


def _finding(f: dict[str, Any], link: dict[str, str] | None) -> dict[str, Any]:
    return {
        "id": str(f.get("id", "")),
        "anchor": f"finding-{slug(str(f.get('id', '')))}",
        "severity": str(f.get("severity", "info")),
        "detector": str(f.get("detector", "")),
        "score": fmt.number(f.get("score")),
        "steps": fmt.steps(f.get("steps")),
        "split": f.get("split") or "–",
        "signal": f.get("signal"),
        "summary": str(f.get("summary", "")),
        "evidence": fmt.evidence(f.get("evidence") or {}),
        "link": link,
    }


def _signals_info(sig: dict[str, Any] | None) -> dict[str, Any] | None:
    if not sig:
        return None
    return {
        "runs": [str(r) for r in sig.get("runs", [])],
        "labelled": bool(sig.get("labelled")),
        "success_known": bool(sig.get("success_known")),
        "metrics_only": bool(sig.get("metrics_only")),
    }


def _families(sig: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per prompt family of the runs without split labels (families stand in for target/control)."""
    rows = (sig or {}).get("families") or []
    if not rows:
        return None
    columns = [c for c in FAMILY_COLUMNS if any(c in r for r in rows)]
    if len(sig.get("runs", [])) <= 1 and "run" in columns:  # type: ignore[union-attr]
        columns.remove("run")
    body = [
        [fmt.value(r.get(c), key=c) if c != "family" else str(r.get(c, "")) for c in columns] for r in rows
    ]
    return {"columns": columns, "rows": body}


def _samples(samples: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rollouts grouped by the finding they illustrate (in findings order), then the rest."""
    by_id = {f.get("id"): f for f in findings}
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for s in samples:
        fid = s.get("finding") if s.get("finding") in by_id else None
        groups.setdefault(fid, []).append(s)
    order = [f.get("id") for f in findings if f.get("id") in groups] + ([None] if None in groups else [])
    out = []
    for fid in order:
        items = groups[fid]
        if fid is None:
            title = "Last step of each run and split"
        else:
            f = by_id[fid]
            where = ", ".join(
                x
                for x in (f.get("split"), f"steps {fmt.steps(f.get('steps'))}" if f.get("steps") else None)
                if x
            )
            title = f"{fid} · {f.get('detector')}" + (f" ({where})" if where else "")
        out.append(
            {
                "title": title,
                "finding": None if fid is None else f"finding-{slug(str(fid))}",
                "rows": [_sample(s) for s in items[:MAX_SAMPLES_PER_GROUP]],
                "more": max(0, len(items) - MAX_SAMPLES_PER_GROUP),
            }
        )
    return out


def _sample(s: dict[str, Any]) -> dict[str, Any]:
    meta = [
        ("run", s.get("run")),
        ("step", s.get("step")),
        ("split", s.get("split")),
        ("condition", s.get("condition")),
        ("group", s.get("group")),
        ("reward", s.get("reward")),
    ]
    return {
        "meta": [(k, fmt.value(v, key=k)) for k, v in meta if v is not None],
        "prompt": fmt.truncate(s.get("prompt")),
        "completion": fmt.truncate(s.get("completion")),
    }


def _audit(audit: dict[str, Any] | None, figures: list[Figure]) -> dict[str, Any] | None:
    if not audit:
        return None
    ids = {f.id for f in figures}
    tests = []
    for key, t in audit.get("tests", {}).items():
        cost = t.get("cost") or {}
        target = f"plot-audit-{slug(key)}"
        tests.append(
            {
                "key": str(key),
                "statistic_name": str(t.get("statistic_name", "")),
                "statistic": fmt.number(t.get("statistic")),
                "uncertainty": fmt.uncertainty(t),
                "forward_passes": fmt.number(cost.get("forward_passes")),
                "seconds": fmt.number(cost.get("seconds")),
                "thresholds": fmt.value(t.get("thresholds") or {}) or "–",
                "href": f"#{target}" if target in ids else None,
            }
        )
    return {"task": str(audit.get("task", "")), "tests": tests}


def _elicitation(el: dict[str, Any] | None) -> dict[str, Any] | None:
    if not el:
        return None
    before, after = el.get("before", {}), el.get("after", {})
    rows = []
    for split, cond in cells(before, after):
        b, a = before.get(split, {}).get(cond), after.get(split, {}).get(cond)
        change = a - b if isinstance(a, int | float) and isinstance(b, int | float) else None
        rows.append([split, cond, fmt.number(b), fmt.number(a), "–" if change is None else f"{change:+.3f}"])
    facts = [
        ("task", el.get("task")),
        ("mitigation", el.get("mitigation")),
        ("RL steps", el.get("steps")),
        ("first flagged at step", el.get("first_flag_step")),
        ("demonstrations injected", el.get("demos_injected")),
    ]
    return {"facts": [(k, fmt.value(v)) for k, v in facts], "rows": rows}


def _evaluation(ev: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per split x cue: n, greedy accuracy with its interval, pass@k, entropy, distinct answers."""
    if not ev or not isinstance(ev.get("accuracy"), dict):
        return None
    get = lambda name, s, c: (ev.get(name) or {}).get(s, {}).get(c)  # noqa: E731
    rows = []
    for s, c in cells(ev["accuracy"]):
        ci = get("ci", s, c)
        interval = (
            f"{fmt.number(ci[0])} to {fmt.number(ci[1])}" if isinstance(ci, list) and len(ci) == 2 else "–"
        )
        rows.append(
            [
                s,
                c,
                fmt.number(get("n", s, c)),
                fmt.number(get("accuracy", s, c)),
                interval,
                fmt.number(get("pass_at_k", s, c)),
                fmt.number(get("entropy", s, c)),
                fmt.number(get("distinct_answers", s, c)),
            ]
        )
    skip = {"accuracy", "ci", "pass_at_k", "entropy", "distinct_answers", "n"}
    facts = [(str(k), fmt.value(v, key=str(k))) for k, v in ev.items() if k not in skip]
    return {"facts": facts, "rows": rows, "k": fmt.value(ev.get("k"))}


def _organism(org: dict[str, Any] | None) -> dict[str, Any] | None:
    """The manifest in a few lines: what was built from what, how it verified, per-task evaluation."""
    if not org:
        return None
    facts = [
        (str(k), fmt.value(v, key=str(k))) for k, v in org.items() if k not in ("eval", "config", "training")
    ]
    evals = {str(t): _evaluation(e) for t, e in (org.get("eval") or {}).items() if isinstance(e, dict)}
    return {
        "facts": facts,
        "evals": {t: e for t, e in evals.items() if e},
        "config": _pretty(org.get("config")),
        "training": _pretty(org.get("training")),
    }


def _provenance(p: dict[str, Any]) -> dict[str, Any]:
    command = p.get("command")
    facts = [
        ("rlaudit", p.get("rlaudit_version")),
        ("command", shlex.join(str(c) for c in command) if isinstance(command, list) else "library call"),
        ("started", p.get("started")),
        ("finished", p.get("finished")),
        ("seconds", fmt.number(p.get("seconds"))),
        ("python", p.get("python")),
        ("platform", p.get("platform")),
    ]
    model = p.get("model")
    if model:
        facts += [
            ("model", model.get("name")),
            ("model path", model.get("path") or "–"),
            ("model sha256", fmt.short_hash(model.get("sha256"))),
            ("model parameters", fmt.number(model.get("parameters"))),
        ]
    store = p.get("store")
    if store:
        facts += [
            ("store", store.get("path")),
            ("store rows", fmt.number(store.get("rows"))),
            ("store last step", fmt.number(store.get("last_step"))),
        ]
    seeds = p.get("seeds") or {}
    if seeds:
        facts.append(("seeds", ", ".join(f"{k}={v}" for k, v in seeds.items())))
    inputs = [
        {
            "path": str(i.get("path", "")),
            "type": str(i.get("type", "")),
            "size": fmt.size(i.get("bytes")),
            "files": fmt.number(i.get("files")),
            "sha": fmt.short_hash(i.get("sha256")),
            "sha_full": str(i.get("sha256", "")),
        }
        for i in p.get("inputs") or []
    ]
    packages = ", ".join(f"{k} {v}" for k, v in (p.get("packages") or {}).items())
    return {
        "facts": [(k, "–" if v is None else str(v)) for k, v in facts],
        "inputs": inputs,
        "packages": packages,
        "configs": _pretty(p.get("configs")),
    }


def _pretty(x: Any) -> str | None:
    """A nested config as indented JSON text (shown in a <details>, escaped by the template)."""
    if not x:
        return None
    return fmt.truncate(json.dumps(x, indent=1, ensure_ascii=False), 20_000)
