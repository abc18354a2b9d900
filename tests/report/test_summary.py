from __future__ import annotations

import json

import rlaudit
from rlaudit.report import to_summary
from rlaudit.signals import STEP_COLUMNS

KEYS = {
    "format_version",
    "rlaudit_version",
    "verdict",
    "verdict_reason",
    "exit_code",
    "inputs",
    "ingested",
    "runs",
    "labelled",
    "metrics_only",
    "findings",
    "signals",
    "notes",
}


def test_summary_round_trips_without_nan(result):
    s = to_summary(result)
    text = json.dumps(s, allow_nan=False)
    assert json.loads(text) == s
    assert s.keys() >= KEYS
    assert s["format_version"] == 1
    assert s["rlaudit_version"] == rlaudit.__version__
    assert (s["verdict"], s["exit_code"]) == ("suspicious", 1)
    assert "all_fail_starvation" in s["verdict_reason"]
    assert s["labelled"] is True and s["metrics_only"] is False
    assert s["ingested"] == [
        {
            "path": result.inputs[0],
            "format": "jsonl",
            "rows_added": 160,
            "files_skipped": 0,
            "metrics_only": False,
        }
    ]


def test_findings_are_dicts_with_nan_as_null(result):
    findings = to_summary(result)["findings"]
    assert [f["detector"] for f in findings] == ["all_fail_starvation", "length_trend", "invariance"]
    for f in findings:
        assert {"detector", "severity", "score", "summary", "steps", "split", "evidence"} <= f.keys()
    first = findings[0]
    assert first["severity"] == "medium" and first["steps"] == [5, 9] and first["split"] == "target"
    assert first["evidence"]["p_value"] is None
    assert findings[2]["score"] is None


def test_signals_per_run_split_condition(result):
    signals = to_summary(result)["signals"]
    assert set(signals) == {"run"}
    assert set(signals["run"]) == {"target", "control"}
    for split in ("target", "control"):
        cols = signals["run"][split]["*"]
        assert cols["step"] == list(range(10))
        assert set(STEP_COLUMNS) <= cols.keys()
        assert all(len(cols[c]) == 10 for c in STEP_COLUMNS)
        # group size 4: pass@8 is undefined -> null, never NaN
        assert cols["pass_at_8"] == [None] * 10
        assert all(isinstance(n, int) for n in cols["n_rollouts"])
    assert signals["run"]["target"]["*"]["reward_mean"][-1] == 0.0


def test_metrics_only_summary(metrics_only_result):
    s = to_summary(metrics_only_result)
    json.dumps(s, allow_nan=False)
    assert s["metrics_only"] is True
    cols = s["signals"]["run"]["all"]["*"]
    assert cols["pass_rate"] == [None] * len(cols["step"])
