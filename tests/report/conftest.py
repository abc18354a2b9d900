from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rlaudit.findings import Finding, Severity, compute_verdict
from rlaudit.monitor import MonitorResult
from rlaudit.signals import STEP_COLUMNS, Signals

from ._helpers import FINDINGS, build_result


@pytest.fixture(scope="session")
def result(tmp_path_factory: pytest.TempPathFactory) -> MonitorResult:
    """The standard result (shared: tests must not change it)."""
    return build_result(tmp_path_factory.mktemp("result"), FINDINGS)


@pytest.fixture
def make_result(tmp_path: Path):
    """Build a result from the test log with other findings or log options."""

    def make(findings: list[Finding] = FINDINGS, **log_kw) -> MonitorResult:
        return build_result(tmp_path, findings, **log_kw)

    return make


@pytest.fixture(scope="session")
def metrics_only_result() -> MonitorResult:
    """What a trainer-metrics-only source gives: a few step columns, the rest NaN, no families."""
    n = 5
    cols = {c: pa.array([float("nan")] * n) for c in STEP_COLUMNS}
    cols["reward_mean"] = pa.array([0.1, 0.2, 0.2, 0.1, 0.0])
    cols["frac_zero_std"] = pa.array([0.2, 0.3, 0.5, 0.7, 0.9])
    steps = pa.table(
        {"run": ["run"] * n, "step": list(range(n)), "split": ["all"] * n, "condition": ["*"] * n} | cols
    )
    signals = Signals(
        steps=steps,
        families=pa.table({"run": pa.array([], pa.string()), "family": pa.array([], pa.string())}),
        components=pa.table(
            {
                "run": pa.array([], pa.string()),
                "step": pa.array([], pa.int64()),
                "component": pa.array([], pa.string()),
                "mean": pa.array([], pa.float64()),
            }
        ),
        runs=["run"],
        metrics_only=True,
    )
    findings = [
        Finding("zero_variance_trend", Severity.MEDIUM, 0.5, "More zero-variance groups.", steps=(2, 4))
    ]
    return MonitorResult(
        verdict=compute_verdict(findings),
        findings=findings,
        signals=signals,
        ingested=[],
        samples=[],
        notes=["Only trainer metrics: pass@k could not be checked."],
        inputs=["trainer_state.json"],
    )
