"""The detectors' findings on synthetic runs, pinned (issue 13: faster detectors, same findings).

`golden/synthetic_findings.json` holds every finding (detector, severity, split, steps, signal, score,
summary, evidence; floats to 9 significant digits) that `run_detectors` gave on the runs below before
the change-point search and the bootstrap were made linear in the number of steps. It was written by
the code of that time (commit d07fadd, ruptures' `Binseg` and one-shot bootstrap):

    RLAUDIT_UPDATE_GOLDEN=1 PYTHONPATH=<that checkout>/src pytest tests/detectors/test_findings_pinned.py

Rewrite it only for a change that is meant to change findings, and say so in the commit. The shipped
example's whole monitor JSON is pinned by tests/cli/test_contract.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rlaudit.detectors import run_detectors
from rlaudit.synthetic import HONEST, INCAPABLE, LOCKED, Behaviour

GOLDEN = Path(__file__).parent / "golden" / "synthetic_findings.json"
UPDATE = os.environ.get("RLAUDIT_UPDATE_GOLDEN") == "1"

VARIED_FAIL = Behaviour(pass_start=0.1, pass_end=0.1, wrong_answers=50)
LOCKED_FAIL = Behaviour(pass_start=0.1, pass_end=0.1, deterministic=True)
STEADY = Behaviour(pass_start=0.5, pass_end=0.5)
SHORTER = Behaviour(words=12, word_growth=-0.05)

CASES: dict[str, dict[str, Any]] = {
    "locked_target": {"behaviours": {"target": LOCKED, "control": HONEST}},
    "honest": {"behaviours": {"target": HONEST, "control": HONEST}, "seed": 1},
    "incapable": {"behaviours": {"target": INCAPABLE, "control": HONEST}, "seed": 2},
    "unlabelled_locked": {"behaviours": {"target": LOCKED, "control": HONEST}, "labelled": False},
    "collapse_then_locked": {
        "phases": [
            ({"target": VARIED_FAIL, "control": STEADY}, 10),
            ({"target": LOCKED_FAIL, "control": STEADY}, 10),
        ]
    },
    "long_collapse": {  # 400 steps: long enough that a wrong split point would move the window
        "phases": [
            ({"target": VARIED_FAIL, "control": HONEST}, 250),
            ({"target": LOCKED_FAIL, "control": HONEST}, 150),
        ],
        "groups_per_split": 2,
    },
    "unlocked_part_way": {
        "phases": [({"target": LOCKED, "control": HONEST}, 30), ({"target": HONEST, "control": HONEST}, 30)]
    },
    "shrinking_completions": {"behaviours": {"target": SHORTER, "control": HONEST}, "n_steps": 60},
}


def rounded(x: Any) -> Any:
    """Floats to 9 significant digits: a parallel DuckDB sum may differ in its last bits between runs."""
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return float(f"{x:.9g}") if isinstance(x, float) else x


def findings_of(make_signals: Any, case: dict[str, Any]) -> list[dict[str, Any]]:
    findings = run_detectors(make_signals(**case))
    docs = [json.loads(json.dumps(f.to_dict(), allow_nan=False)) for f in findings]
    return rounded(sorted(docs, key=lambda d: json.dumps(d, sort_keys=True)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_findings_are_as_pinned(name: str, make_signals: Any) -> None:
    got = findings_of(make_signals, CASES[name])
    pinned = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if UPDATE:
        pinned[name] = got
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
    assert name in pinned, f"{name}: not pinned in {GOLDEN}; see the module docstring"
    assert got == pinned[name]


def test_the_pinned_runs_exercise_the_changed_code() -> None:
    """The golden file is only a pin if its findings go through the change point and the bootstrap."""
    pinned = json.loads(GOLDEN.read_text())
    detectors = {f["detector"] for fs in pinned.values() for f in fs}
    assert {"diversity_collapse", "selective_underperformance"} <= detectors
    long_drops = [f for f in pinned["long_collapse"] if f["detector"] == "diversity_collapse"]
    assert long_drops and all(200 <= f["evidence"]["change_step"] <= 300 for f in long_drops)
