import dataclasses
import math

import pytest

from rlaudit.detectors import DETECTORS, DetectorConfig, run_detectors
from rlaudit.findings import Severity, compute_verdict
from rlaudit.synthetic import HONEST, INCAPABLE, LOCKED, Behaviour

SOME_WRONG = Behaviour(pass_start=0.0, pass_end=0.0, wrong_answers=6)


def test_a_failing_detector_becomes_an_info_finding(make_signals, monkeypatch):
    signals = make_signals({"target": LOCKED, "control": HONEST})

    def boom(s, c):
        raise RuntimeError("planted")

    monkeypatch.setitem(
        DETECTORS, "diversity_collapse", dataclasses.replace(DETECTORS["diversity_collapse"], detect=boom)
    )
    findings = run_detectors(signals)
    (f,) = [f for f in findings if f.detector == "diversity_collapse"]
    assert f.severity == Severity.INFO and math.isnan(f.score) and "planted" in f.summary
    assert compute_verdict(findings).label == "hacking-likely"  # the others still ran


def test_enabled_selects_detectors(make_signals):
    signals = make_signals({"target": LOCKED, "control": HONEST})
    findings = run_detectors(signals, DetectorConfig(enabled=("length_drift",)))
    assert {f.detector for f in findings} <= {"length_drift"}


def test_unknown_detector_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown detector"):
        DetectorConfig(enabled=("nope",))


@pytest.mark.parametrize(
    ("behaviours", "verdict"),
    [
        ({"target": LOCKED, "control": HONEST}, "hacking-likely"),
        ({"target": HONEST, "control": HONEST}, "clean"),
        ({"target": INCAPABLE, "control": INCAPABLE}, "clean"),  # can't, not won't
        ({"target": INCAPABLE, "control": HONEST}, "clean"),  # failures that explore: can't, not won't
        ({"target": SOME_WRONG, "control": HONEST}, "suspicious"),  # half-varied: the audits settle it
    ],
)
def test_verdicts(make_signals, behaviours, verdict):
    assert compute_verdict(run_detectors(make_signals(behaviours))).label == verdict
