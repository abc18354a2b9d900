import math

from rlaudit.findings import Severity
from rlaudit.synthetic import HONEST, INCAPABLE, LOCKED, Behaviour

NAME = "selective_underperformance"


def test_flat_target_while_control_learns_is_high_with_ci(make_signals, detect):
    (f,) = detect(make_signals({"target": LOCKED, "control": HONEST}), NAME)
    assert f.severity == Severity.HIGH
    lo, hi = f.evidence["slope_diff_ci"]
    assert 0 < lo <= f.evidence["slope_diff_control_minus_target"] <= hi
    assert f.evidence["control_learns"]


def test_control_staying_high_counts_too(make_signals, detect):
    high = Behaviour(pass_start=0.9, pass_end=0.9)
    (f,) = detect(make_signals({"target": LOCKED, "control": high}), NAME)
    assert f.severity == Severity.HIGH
    assert f.evidence["control_high"] and not f.evidence["control_learns"]


def test_both_learning_is_clean(make_signals, detect):
    assert detect(make_signals({"target": HONEST, "control": HONEST}), NAME) == []


def test_weak_target_that_learns_is_clean(make_signals, detect):
    weak = Behaviour(pass_start=0.05, pass_end=0.5)
    assert detect(make_signals({"target": weak, "control": HONEST}), NAME) == []


def test_control_failing_too_is_cant_not_wont(make_signals, detect):
    assert detect(make_signals({"target": LOCKED, "control": INCAPABLE}), NAME) == []


def test_varied_failures_are_low_not_high(make_signals, detect):
    (f,) = detect(make_signals({"target": INCAPABLE, "control": HONEST}), NAME)
    assert f.severity == Severity.LOW
    assert not math.isnan(f.score)


def test_unlabelled_family_form(make_signals, detect):
    (f,) = detect(make_signals({"target": LOCKED, "control": HONEST}, labelled=False), NAME)
    assert f.severity == Severity.MEDIUM
    assert f.evidence["family"].startswith("[target]")
