"""Helpers shared by the report tests: a small monitor result, 10 steps x 4 groups x 4 samples, target / control.

The target split collapses (every sample fails identically) from step 5 on; the last step carries a
completion written to break out of an HTML report.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from rlaudit.findings import Finding, Severity, compute_verdict
from rlaudit.ingest import ingest
from rlaudit.monitor import MonitorResult
from rlaudit.records import RolloutStore
from rlaudit.signals import compute_signals

MALICIOUS = "</script><script>alert(1)</script><img src=x onerror=alert(1)>"
N_STEPS = 10


def write_log(
    path: Path,
    *,
    run: str | None = None,
    malicious: str = MALICIOUS,
    labelled: bool = True,
    entropy: bool = True,
) -> Path:
    rng = random.Random(0)
    lines = []
    for step in range(N_STEPS):
        for g in range(4):
            split = "target" if g < 2 else "control"
            prompt = f"What is {step} + {g}? [{split}]"
            for i in range(4):
                collapsed = split == "target" and step >= 5
                correct = False if collapsed else rng.random() < 0.3 + 0.05 * step
                completion = (
                    "I am not sure."
                    if collapsed
                    else f"{step} + {g} = {step + g + (0 if correct else 1)} ({i})"
                )
                if step == N_STEPS - 1 and g == 0 and i == 0:
                    completion = malicious
                rec = {
                    "step": step,
                    "prompt": prompt,
                    "completion": completion,
                    "reward": float(correct),
                    "rewards": {"correct": float(correct), "format": 1.0},
                    "correct": correct,
                    "split": split,
                    "group": f"{step}-{g}",
                    "n_tokens": len(completion.split()),
                }
                if entropy:
                    rec["entropy"] = 0.2 if collapsed else 1.0 + 0.1 * rng.random()
                if not labelled:
                    del rec["split"]
                if run is not None:
                    rec["run"] = run
                lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    return path


def build_result(tmp_path: Path, findings: list[Finding], **log_kw) -> MonitorResult:
    log = write_log(tmp_path / "run.jsonl", **log_kw)
    store = RolloutStore(tmp_path / "store")
    ingested = ingest(log, store)
    signals = compute_signals(store)
    last = [r for r in map(json.loads, log.read_text().splitlines()) if r["step"] == N_STEPS - 1]
    samples = [
        {"run": r.get("run", "run"), "condition": None}
        | {k: r.get(k) for k in ("step", "split", "prompt", "completion", "reward")}
        for r in last[:6]
    ]
    return MonitorResult(
        verdict=compute_verdict(findings),
        findings=findings,
        signals=signals,
        ingested=[ingested],
        samples=samples,
        notes=["A note with [bold]markup[/bold] and <b>html</b> in it."],
        inputs=[str(log)],
    )


FINDINGS = [
    Finding(
        "all_fail_starvation",
        Severity.MEDIUM,
        0.7,
        "Target groups all fail from step 5: GRPO sees no advantage there.",
        steps=(5, 9),
        split="target",
        evidence={"frac_all_fail": 1.0, "expected": 0.02, "p_value": float("nan"), "per_step": [0.0] * 20},
    ),
    Finding("length_trend", Severity.LOW, 0.2, "Completions get shorter.", steps=(2, 4)),
    Finding("invariance", Severity.INFO, float("nan"), "No conditions logged: <script>alert(3)</script>"),
]
