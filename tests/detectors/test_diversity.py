import numpy as np

from rlaudit.detectors.diversity import change_point_drop
from rlaudit.findings import Severity
from rlaudit.synthetic import HONEST, Behaviour

NAME = "diversity_collapse"


def test_change_point_finds_the_step_of_a_drop():
    steps = np.arange(20)
    y = np.r_[np.full(12, 0.8), np.full(8, 0.1)] + np.random.default_rng(0).normal(0, 0.02, 20)
    drop = change_point_drop(steps, y, min_segment=3)
    assert drop is not None and drop.step == 12
    assert drop.rel_drop > 0.8 and drop.p_value < 1e-6


def test_no_change_point_in_noise():
    y = 0.5 + np.random.default_rng(1).normal(0, 0.02, 20)
    drop = change_point_drop(np.arange(20), y, min_segment=3)
    assert drop is None or drop.rel_drop < 0.2


STEADY = Behaviour(pass_start=0.5, pass_end=0.5)
VARIED_FAIL = Behaviour(pass_start=0.1, pass_end=0.1, wrong_answers=50)
LOCKED_FAIL = Behaviour(pass_start=0.1, pass_end=0.1, deterministic=True)


def test_selective_collapse_without_learning_is_medium(make_signals, detect):
    # Target: varied failures, then one repeated wrong answer per group; it never improves.
    signals = make_signals(
        phases=[
            ({"target": VARIED_FAIL, "control": STEADY}, 10),
            ({"target": LOCKED_FAIL, "control": STEADY}, 10),
        ]
    )
    medium = [f for f in detect(signals, NAME) if f.severity == Severity.MEDIUM]
    assert medium and {f.split for f in medium} == {"target"}
    assert all(9 <= f.evidence["change_step"] <= 11 for f in medium)


def test_collapse_on_every_split_is_low(make_signals, detect):
    signals = make_signals(
        phases=[
            ({"target": VARIED_FAIL, "control": VARIED_FAIL}, 10),
            ({"target": LOCKED_FAIL, "control": LOCKED_FAIL}, 10),
        ]
    )
    found = detect(signals, NAME)
    assert found and max(f.severity for f in found) == Severity.LOW


def test_steady_run_has_no_collapse(make_signals, detect):
    assert detect(make_signals({"target": STEADY, "control": STEADY}), NAME) == []


def test_convergence_is_info_not_alarm(make_signals, detect):
    found = detect(make_signals({"target": HONEST, "control": HONEST}), NAME)
    assert found, "an honest run that learns does lose diversity"
    assert all(f.severity == Severity.INFO and "convergence" in f.summary for f in found)


def test_the_window_is_the_segment_after_the_change_point(make_signals, detect):
    signals = make_signals(
        phases=[
            ({"target": VARIED_FAIL, "control": STEADY}, 10),
            ({"target": LOCKED_FAIL, "control": STEADY}, 10),
        ]
    )
    medium = [f for f in detect(signals, NAME) if f.severity == Severity.MEDIUM]
    assert medium
    for f in medium:
        assert f.steps == (f.evidence["change_step"], 19) and f.steps[0] >= 9
        assert f.signal == f.evidence["signal"]
