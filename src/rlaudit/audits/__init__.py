"""Checkpoint audits: active tests a sandbagging model cannot easily fake its way through.

Each audit is one module with a ``Config`` dataclass and ``run(model, tokenizer, task, config, seed=...)
-> TestResult`` (`rlaudit.audits.base`):

| name | what it does | positive |
|---|---|---|
| ``context_gap`` | same problems under the training and the deployment cue | worse when told it is training |
| ``noise_sweep`` | Gaussian noise on the weights over a grid of scales | target improves, or collapses before control |
| ``sft_elicitation`` | LoRA SFT on 4/16/64 target demonstrations | confident failures undone by a few demonstrations |
| ``passk`` | pass@k up to k = 16 on matched target/control problems | target ceiling far below control, one repeated answer |

`run_audit` runs the chosen ones and computes the verdict from all their findings with the same
`rlaudit.findings.compute_verdict` as ``rlaudit monitor``.
"""

from __future__ import annotations

import time
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rlaudit.audits import context_gap, noise_sweep, passk, sft_elicitation
from rlaudit.audits.base import TestResult
from rlaudit.findings import Finding, Verdict, compute_verdict
from rlaudit.tasks import Task, get_task

AUDITS: dict[str, types.ModuleType] = {
    "context": context_gap,
    "noise": noise_sweep,
    "sft": sft_elicitation,
    "passk": passk,
}
"""Every audit by its CLI name (``--tests context,noise,sft,passk``)."""
FORMAT_VERSION = 1


@dataclass
class AuditConfig:
    """One config per audit (defaults work) and the seed of the prompts, noise and fine-tuning."""

    context: context_gap.Config = field(default_factory=context_gap.Config)
    noise: noise_sweep.Config = field(default_factory=noise_sweep.Config)
    sft: sft_elicitation.Config = field(default_factory=sft_elicitation.Config)
    passk: passk.Config = field(default_factory=passk.Config)
    seed: int = 0


@dataclass
class AuditResult:
    """The verdict over every test's findings, and each test's result."""

    verdict: Verdict
    tests: dict[str, TestResult]
    task: str
    model: str | None = None
    seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        return [f for t in self.tests.values() for f in t.findings]

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready object: verdict, findings, and each test's statistic, uncertainty, curve, cost."""
        from rlaudit import __version__

        return {
            "format_version": FORMAT_VERSION,
            "rlaudit_version": __version__,
            "model": self.model,
            "task": self.task,
            "verdict": self.verdict.label,
            "verdict_reason": self.verdict.reason,
            "exit_code": self.verdict.exit_code,
            "findings": [f.to_dict() for f in self.findings],
            "tests": {name: t.to_dict() for name, t in self.tests.items()},
            "seconds": round(self.seconds, 3),
        }


def parse_tests(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"context,noise"`` -> ``("context", "noise")``; None or empty -> every audit. Unknown -> ValueError."""
    if spec is None:
        return tuple(AUDITS)
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [s for s in names if s]
    if not names:
        raise ValueError(f"no test named; choose from {', '.join(AUDITS)}")
    unknown = [s for s in names if s not in AUDITS]
    if unknown:
        raise ValueError(f"unknown test {', '.join(map(repr, unknown))}; choose from {', '.join(AUDITS)}")
    return tuple(dict.fromkeys(names))


def run_audit(
    model: Any,
    tokenizer: Any,
    task: Task | str,
    tests: str | Sequence[str] | None = None,
    config: AuditConfig | None = None,
    *,
    reference: tuple[Any, Any] | None = None,
    model_name: str | None = None,
) -> AuditResult:
    """Run `tests` (default: all) on `model` and judge. `reference` (model, tokenizer) feeds SFT elicitation.

    The model is left as it was: every audit restores it (noise removed, adapters unloaded).
    """
    task = get_task(task) if isinstance(task, str) else task
    config = config or AuditConfig()
    names = parse_tests(tests)
    start = time.perf_counter()
    results: dict[str, TestResult] = {}
    for name in names:
        module = AUDITS[name]
        kwargs: dict[str, Any] = {"seed": config.seed}
        if name == "sft" and reference is not None:
            kwargs["reference"] = reference
        results[name] = module.run(model, tokenizer, task, getattr(config, name), **kwargs)
    findings = [f for r in results.values() for f in r.findings]
    return AuditResult(
        verdict=compute_verdict(findings),
        tests=results,
        task=task.name,
        model=model_name,
        seconds=time.perf_counter() - start,
    )


__all__ = ["AUDITS", "AuditConfig", "AuditResult", "TestResult", "parse_tests", "run_audit"]
