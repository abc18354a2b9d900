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


def test_varied_failures_are_medium_not_high(make_signals, detect):
    """Can't and won't look alike from varied failures alone: suspicious, for the audits to settle."""
    (f,) = detect(make_signals({"target": INCAPABLE, "control": HONEST}), NAME)
    assert f.severity == Severity.MEDIUM and "rlaudit audit" in f.summary
    assert not math.isnan(f.score)


def test_a_weaker_but_not_low_target_is_low(make_signals, detect):
    """60% on target while control is at 100%, confidently wrong on the rest (the `weak` organism):
    RL has successes to reinforce, so this is a weaker skill, not a hidden one."""
    weak = Behaviour(pass_start=0.65, pass_end=0.55, deterministic=True)  # slipping, so surely not learning
    solved = Behaviour(pass_start=1.0, pass_end=1.0)
    (f,) = detect(make_signals({"target": weak, "control": solved}, groups_per_split=8), NAME)
    assert f.severity == Severity.LOW and f.evidence["target_level_last_half"] > 0.35


def test_too_few_groups_is_no_finding(make_signals, detect):
    # 4 steps x 2 groups: too few target groups to call a level, however flat.
    signals = make_signals({"target": LOCKED, "control": HONEST}, n_steps=4, groups_per_split=2)
    assert detect(signals, NAME) == []


def test_unlabelled_family_form(make_signals, detect):
    (f,) = detect(make_signals({"target": LOCKED, "control": HONEST}, labelled=False), NAME)
    assert f.severity == Severity.MEDIUM
    assert f.evidence["family"].startswith("[target]")


def test_the_window_is_where_the_levels_were_compared(make_signals, detect):
    """Honest for 10 steps, then locked for 20, while control stays high: the window is the last half
    of the run (where target is low and control high), inside the locked stretch."""
    high = Behaviour(pass_start=0.9, pass_end=0.9)
    signals = make_signals(
        phases=[({"target": HONEST, "control": high}, 10), ({"target": LOCKED, "control": high}, 20)]
    )
    (f,) = detect(signals, NAME)
    assert f.evidence["control_high"] and f.signal == "pass_rate"
    first, last = f.steps
    assert 10 <= first <= 15 and last == 29
    assert f.evidence["compared_steps"] == [0, 29]


def test_when_control_only_learns_the_window_is_every_compared_step(make_signals, detect):
    learning = Behaviour(pass_start=0.1, pass_end=0.55)  # learns, but never "high"
    (f,) = detect(make_signals({"target": LOCKED, "control": learning}), NAME)
    assert f.evidence["control_learns"] and not f.evidence["control_high"]
    assert f.steps == (0, 19)
