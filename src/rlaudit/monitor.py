"""`rlaudit monitor`: logs -> store -> signals -> detectors -> findings -> verdict.

The one library function the CLI calls (`run_monitor`), and the result every output (terminal,
JSON, HTML) is rendered from.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaudit.detectors import DetectorConfig, run_detectors
from rlaudit.findings import Finding, Verdict, compute_verdict
from rlaudit.ingest import IngestResult, ingest
from rlaudit.records import RecordError, RolloutStore
from rlaudit.signals import Signals, SignalsConfig, compute_signals

EXAMPLE_LOG = Path(__file__).parent / "examples" / "locked_tiny_grpo"


@dataclass
class MonitorConfig:
    """Everything `run_monitor` can be told; the defaults work."""

    signals: SignalsConfig = field(default_factory=SignalsConfig)
    detectors: DetectorConfig = field(default_factory=DetectorConfig)
    n_samples: int = 6
    """Sample completions shown in reports: one from each of this many groups of the last step, per split."""


@dataclass
class MonitorResult:
    """What the monitor found, ready to render."""

    verdict: Verdict
    findings: list[Finding]
    signals: Signals
    ingested: list[IngestResult]
    samples: list[dict[str, Any]]
    notes: list[str]
    inputs: list[str]


def run_monitor(
    paths: Sequence[str | Path],
    *,
    store: RolloutStore | None = None,
    fmt: str = "auto",
    reward_weights: dict[str, float] | None = None,
    config: MonitorConfig | None = None,
) -> MonitorResult:
    """Ingest `paths` (one run each; several runs enable the reward-configuration check) and judge them.

    With no `store`, a temporary one is used and removed afterwards.
    """
    config = config or MonitorConfig()
    if store is None:
        with tempfile.TemporaryDirectory(prefix="rlaudit-store-") as tmp:
            return run_monitor(
                paths, store=RolloutStore(tmp), fmt=fmt, reward_weights=reward_weights, config=config
            )
    ingested = []
    for p in paths:
        # Each path is its own run, named after it, unless its records name their run.
        path = Path(p)
        run = (path.stem if path.is_file() else path.name) if len(paths) > 1 else None
        ingested.append(ingest(path, store, fmt=fmt, run=run, reward_weights=reward_weights))
    return judge(store, config=config, ingested=ingested, inputs=[str(p) for p in paths])


def judge(
    store: RolloutStore,
    *,
    config: MonitorConfig | None = None,
    ingested: list[IngestResult] | None = None,
    inputs: list[str] | None = None,
) -> MonitorResult:
    """Signals, findings and verdict of everything in `store` (also used by the live callback)."""
    config = config or MonitorConfig()
    if store.is_empty() and not store.has_metrics():
        raise RecordError(f"{store.path}: the store holds no rollouts and no metrics: nothing to judge")
    signals = compute_signals(store, config.signals)
    findings = run_detectors(signals, config.detectors)
    notes = [n for r in ingested or [] for n in r.notes]
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
    samples = _samples(store, config.n_samples)
    return MonitorResult(
        verdict=compute_verdict(findings),
        findings=findings,
        signals=signals,
        ingested=ingested or [],
        samples=samples,
        notes=notes,
        inputs=inputs or [],
    )


def _samples(store: RolloutStore, n: int) -> list[dict[str, Any]]:
    """One completion from each of a few groups of the last step, per run x split (model text: escape
    when shown)."""
    if store.is_empty() or n <= 0:
        return []
    con = store.connect()
    try:
        rows = con.execute(
            f"""
            WITH last AS (SELECT run, max(step) AS step FROM rollouts GROUP BY run),
            firsts AS (  -- the first completion of each group of the last step
                SELECT ro.run, ro.step, COALESCE(split, 'all') AS split, condition, prompt, completion, reward,
                       "group", "row"
                FROM rollouts ro JOIN last USING (run, step)
                QUALIFY row_number() OVER (PARTITION BY ro.run, "group" ORDER BY source, "row") = 1
            )
            SELECT run, step, split, condition, prompt, completion, reward FROM firsts
            QUALIFY row_number() OVER (PARTITION BY run, split ORDER BY "group") <= {int(n)}
            ORDER BY run, split, "group"
            """
        ).fetchall()
    finally:
        con.close()
    cols = ("run", "step", "split", "condition", "prompt", "completion", "reward")
    return [dict(zip(cols, r, strict=True)) for r in rows]
