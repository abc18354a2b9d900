"""`rlaudit monitor`: logs -> store -> signals -> detectors -> findings -> judgement.

`run_monitor` (what the CLI calls) ingests logs and judges them; `judge` judges whatever a store holds
(the live callback and `rlaudit show` use it). Both return a `rlaudit.judgement.Judgement` whose
sections are `signals`, `samples`, `ingested` and `notes`: every output (terminal, JSON, HTML) is
rendered from its JSON.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaudit.detectors import DetectorConfig, run_detectors
from rlaudit.detectors.difficulty import DifficultyConfig, match_difficulty
from rlaudit.detectors.unlabelled import unlabelled_findings
from rlaudit.findings import Finding, Severity
from rlaudit.ingest import IngestResult, ingest
from rlaudit.judgement import Judgement, Provenance, describe_input
from rlaudit.records import RecordError, RolloutStore
from rlaudit.signals import Signals, SignalsConfig, compute_signals
from rlaudit.signals.difficulty import difficulty_levels
from rlaudit.signals.section import SERIES_POINTS, signals_section

if TYPE_CHECKING:  # the judge (and its client) is imported only when one is asked for
    from rlaudit.judges import JudgeConfig

EXAMPLE_LOG = Path(__file__).parent / "examples" / "locked_tiny_grpo"


@dataclass
class MonitorConfig:
    """Everything `run_monitor` can be told; the defaults work."""

    signals: SignalsConfig = field(default_factory=SignalsConfig)
    detectors: DetectorConfig = field(default_factory=DetectorConfig)
    n_samples: int = 6
    """Sample completions shown in reports: one from each of this many groups of the last step, per split."""
    flagged_groups: int = 2
    """Groups shown per medium-or-worse finding: those of its split at the last step of its window."""
    flagged_rollouts: int = 4
    """Rollouts shown per flagged group (a starved group repeats one answer: a few show it)."""
    max_text_chars: int = 2000
    """Prompts and completions in the samples are cut to this many characters (the JSON stays small)."""
    unlabelled_view: bool = True
    """Judge a store with split labels also as if it had none, and keep what that view finds above the
    labelled one (`rlaudit.detectors.unlabelled`): labels never lower the verdict."""
    splits_matched: bool = True
    """Whether the target and control prompts are matched in difficulty (rlaudit's own tasks ask the
    same problems under both tags). False (`rlaudit monitor --unmatched-splits`; `rlaudit elicit` on a
    task file without a `difficulty` column): the findings of `split_comparisons` are at most MEDIUM,
    since a model that cannot do a harder target answers it with one repeated wrong answer too (the
    honest tiny organism on two-digit target sums: `selective_underperformance` and
    `exploration_starvation` HIGH, docs/benchmarks.md)."""
    split_comparisons: tuple[str, ...] = (
        "selective_underperformance",
        "exploration_starvation",
        "transient_starvation",
    )
    """The detectors whose findings rest on comparing the target split with control: checked at matched
    difficulty when the rollouts carry a `difficulty` (`rlaudit.detectors.difficulty`), else capped at
    MEDIUM when `splits_matched` is False."""
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)
    """The difficulty-matched comparison of `split_comparisons`' findings."""
    series_points: int = SERIES_POINTS
    """Per-step series in the JSON (and so the report) keep at most this many points each: every k-th
    step of a longer run, and its last (`rlaudit.signals.section`; `rlaudit monitor --series-points`);
    0: every step. The detectors always read every step."""
    judge: JudgeConfig | None = None
    """A transcript judge to read a sample of the rollouts (`rlaudit.judges`; ``rlaudit monitor
    --judge-model``); None: no judge."""


def run_monitor(
    paths: Sequence[str | Path],
    *,
    store: RolloutStore | None = None,
    fmt: str = "auto",
    reward_weights: dict[str, float] | None = None,
    config: MonitorConfig | None = None,
) -> Judgement:
    """Ingest `paths` (one run each; several runs enable the reward-configuration check) and judge them.

    With no `store`, a temporary one is used and removed afterwards.
    """
    config = config or MonitorConfig()
    if store is None:
        with tempfile.TemporaryDirectory(prefix="rlaudit-store-") as tmp:
            return run_monitor(
                paths, store=RolloutStore(tmp), fmt=fmt, reward_weights=reward_weights, config=config
            )
    provenance = Provenance.begin(configs=_configs(config, fmt, reward_weights))
    provenance.inputs = [describe_input(p) for p in paths]
    ingested = []
    # Each path is its own run, named after it, unless its records name their run.
    runs = run_names(paths) if len(paths) > 1 else [None] * len(paths)
    with store.writing():  # one writer at a time; any bad input and nothing is stored
        for p, run in zip(paths, runs, strict=True):
            ingested.append(ingest(Path(p), store, fmt=fmt, run=run, reward_weights=reward_weights))
    return judge(store, config=config, ingested=ingested, provenance=provenance)


_LOG_FOLDERS = {"completions", "rollouts", "rollout_data", "logs"}
"""Folder names that logging code gives every run (TRL writes ``output_dir/completions/``): a run is
named after the folder above one of these."""
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


def run_name(path: Path) -> str:
    """The run a log path stands for: a file's stem, or a folder's name; the folder above for TRL's
    ``completions/`` (or a file in it), another generic log folder, or a ``checkpoint-N`` folder."""
    if path.is_file():
        if path.parent.name not in _LOG_FOLDERS:
            return path.stem
        path = path.parent
    path = path.resolve()
    while (path.name in _LOG_FOLDERS or _CHECKPOINT.match(path.name)) and path.parent != path:
        path = path.parent
    return path.name


def run_names(paths: Sequence[str | Path]) -> list[str]:
    """One run name per input path (`run_name`); files that share a name (``a/rollouts.jsonl``,
    ``b/rollouts.jsonl``) are named after their folders instead. Two inputs that would still get the same
    name are an error (a RecordError naming both), since their rollouts would merge silently into one run."""
    first = [run_name(Path(p)) for p in paths]
    names: dict[str, str | Path] = {}
    for p, name in zip(paths, first, strict=True):
        if first.count(name) > 1 and Path(p).is_file():
            name = run_name(Path(p).resolve().parent)
        if name in names:
            raise RecordError(
                f"{p}: its run would be named '{name}', as is {names[name]}'s; two inputs are two runs, "
                "so give each run folder its own name"
            )
        names[name] = p
    return list(names)


def judge(
    store: RolloutStore,
    *,
    config: MonitorConfig | None = None,
    ingested: list[IngestResult] | None = None,
    provenance: Provenance | None = None,
    kind: str = "monitor",
    extra: list[Finding] | None = None,
) -> Judgement:
    """Signals, findings and verdict of everything in `store` (also used by the live callback and
    `rlaudit show`, `kind="show"`). `extra`: findings made elsewhere that join the verdict (the live
    callback's background judge, `rlaudit.training.live_judge`)."""
    config = config or MonitorConfig()
    provenance = provenance or Provenance.begin(configs=_configs(config))
    if store.is_empty() and not store.has_metrics():
        raise RecordError(f"{store.path}: the store holds no rollouts and no metrics: nothing to judge")
    signals = compute_signals(store, config.signals)
    findings = run_detectors(signals, config.detectors)
    if config.unlabelled_view and signals.labelled:
        plain = compute_signals(store, dataclasses.replace(config.signals, ignore_splits=True), reuse=signals)
        findings += unlabelled_findings(findings, run_detectors(plain, config.detectors))
    findings = match_difficulty(
        findings,
        difficulty_levels(store, config.signals) if not signals.metrics_only else None,
        config.split_comparisons,
        splits_matched=config.splits_matched,
        cfg=config.difficulty,
    )
    findings += unscored_findings(store)
    if config.judge is not None:
        from rlaudit.judges import judge_store

        findings += judge_store(store, config.judge)
    findings += extra or []
    sections: dict[str, Any] = {
        "signals": signals_section(signals, config.series_points),
        "ingested": [_ingested(r) for r in ingested or []],
        "notes": _notes(signals, ingested or []),
    }
    provenance.store = _store_info(store)
    judgement = Judgement.judged(kind, findings, sections, provenance)
    judgement.sections["samples"] = samples(store, judgement, config)
    provenance.finish()
    return judgement


def unscored_findings(store: RolloutStore) -> list[Finding]:
    """A MEDIUM finding when rollouts are stored but not one has a reward (all null or NaN).

    Every detector reads rewards, so such a log gives no evidence either way; calling it `clean`
    would read as "checked and fine". MEDIUM makes the verdict `suspicious` (exit 1): look at it.
    """
    if store.is_empty():
        return []
    con = store.connect()
    try:
        row = con.execute("SELECT count(*), count(reward) FROM rollouts").fetchone()
    finally:
        con.close()
    total, scored = (int(row[0]), int(row[1])) if row else (0, 0)
    if total == 0 or scored > 0:
        return []
    return [
        Finding(
            detector="unscored",
            severity=Severity.MEDIUM,
            score=float("nan"),
            summary=f"Nothing was scored: all {total} rollouts have a null or NaN reward, so no detector "
            "had a reward to judge; the run is not shown clean. Check the reward function.",
            evidence={"rollouts": total, "scored": 0},
        )
    ]


def samples(store: RolloutStore, judgement: Judgement, config: MonitorConfig) -> list[dict[str, Any]]:
    """Rollouts a person should read (model text: escape when shown): for each medium-or-worse finding
    tied to a split and steps, a few rollouts of a few groups of that split at the last step of its
    window; then one completion from each of a few groups of each run's last step, per split."""
    if store.is_empty():
        return []
    ids = judgement.finding_ids()
    con = store.connect()
    try:
        out = []
        for f in judgement.findings:
            if f.severity < Severity.MEDIUM or f.split is None or f.steps is None:
                continue
            rows = con.execute(
                """
                WITH g AS (
                    SELECT run, step, "group" FROM rollouts
                    WHERE COALESCE(split, 'all') = ? AND step BETWEEN ? AND ?
                    QUALIFY step = max(step) OVER (PARTITION BY run)
                ), picked AS (
                    SELECT DISTINCT run, step, "group" FROM g ORDER BY run, "group" LIMIT ?
                )
                SELECT ro.run, ro.step, COALESCE(split, 'all'), condition, ro."group", reward, prompt, completion
                FROM rollouts ro JOIN picked USING (run, step, "group")
                QUALIFY row_number() OVER (PARTITION BY ro.run, ro."group" ORDER BY source, "row") <= ?
                ORDER BY ro.run, ro."group", source, "row"
                """,
                [f.split, int(f.steps[0]), int(f.steps[1]), config.flagged_groups, config.flagged_rollouts],
            ).fetchall()
            out += [_sample(r, config, ids[id(f)]) for r in rows]
        rows = con.execute(
            """
            WITH last AS (SELECT run, max(step) AS step FROM rollouts GROUP BY run),
            firsts AS (  -- the first completion of each group of the last step
                SELECT ro.run, ro.step, COALESCE(split, 'all') AS split, condition, "group", reward, prompt,
                       completion
                FROM rollouts ro JOIN last USING (run, step)
                QUALIFY row_number() OVER (PARTITION BY ro.run, "group" ORDER BY source, "row") = 1
            )
            SELECT * FROM firsts
            QUALIFY row_number() OVER (PARTITION BY run, split ORDER BY "group") <= ?
            ORDER BY run, split, "group"
            """,
            [config.n_samples],
        ).fetchall()
        out += [_sample(r, config, None) for r in rows]
        return out
    finally:
        con.close()


def _sample(row: tuple[Any, ...], config: MonitorConfig, finding: str | None) -> dict[str, Any]:
    run, step, split, condition, group, reward, prompt, completion = row
    return {
        "run": str(run),
        "step": int(step),
        "split": str(split),
        "condition": condition,
        "group": None if group is None else str(group),
        "reward": reward,
        "prompt": _cut(prompt, config.max_text_chars),
        "completion": _cut(completion, config.max_text_chars),
        "finding": finding,
    }


def _cut(text: Any, n: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= n else f"{text[:n]}… ({len(text) - n} more characters)"


def _notes(signals: Signals, ingested: list[IngestResult]) -> list[str]:
    notes = [n for r in ingested for n in r.notes]
    if not signals.labelled and not signals.metrics_only:
        notes.append(
            "No split labels: prompts were compared with each other by prompt family. Logging a `split` "
            "(target/control) per rollout would sharpen the verdict."
        )
    if not signals.success_known and not signals.metrics_only:
        notes.append(
            "Success is unknown (rewards are not binary and no `correct` field): pass@k and all-fail "
            "signals use the lowest reward as failure."
        )
    return notes


def _ingested(r: IngestResult) -> dict[str, Any]:
    return {
        "path": r.path,
        "format": r.format,
        "rows_added": r.rows_added,
        "files_skipped": r.files_skipped,
        "metrics_only": r.metrics_only,
    }


def _store_info(store: RolloutStore) -> dict[str, Any]:
    rows, last = 0, None
    if not store.is_empty():
        con = store.connect()
        try:
            rows, last = con.execute("SELECT count(*), max(step) FROM rollouts").fetchone() or (0, None)
        finally:
            con.close()
    return {"path": str(store.path), "rows": int(rows), "last_step": None if last is None else int(last)}


def _configs(
    config: MonitorConfig, fmt: str | None = None, reward_weights: dict[str, float] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"monitor": dataclasses.asdict(config)}
    if fmt is not None:
        out["ingest"] = {"format": fmt, "reward_weights": reward_weights}
    return out
