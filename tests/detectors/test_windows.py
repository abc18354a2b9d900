import numpy as np
import pytest

from rlaudit.detectors import DetectorConfig, run_detectors
from rlaudit.detectors.windows import WindowConfig, restrict, spans
from rlaudit.findings import Severity, compute_verdict
from rlaudit.synthetic import HONEST, INCAPABLE, LOCKED, Behaviour

LOCK_THEN_LEARN = [({"target": LOCKED, "control": HONEST}, 10), ({"target": HONEST, "control": HONEST}, 20)]


def test_spans_early_view_then_half_overlapping_windows():
    assert spans(np.arange(30), WindowConfig()) == [
        (0, 9, "early"),
        (0, 9, "window"),
        (5, 14, "window"),
        (10, 19, "window"),
        (15, 24, "window"),
        (20, 29, "window"),
    ]
    # logged steps need not be consecutive: windows count logged steps
    assert spans(np.arange(0, 60, 2), WindowConfig())[2] == (10, 28, "window")


def test_spans_cover_the_last_steps_and_skip_views_of_the_whole_run():
    assert spans(np.arange(10), WindowConfig()) == []  # the pooled pass is the only view
    last = spans(np.arange(23), WindowConfig())[-1]
    assert last == (13, 22, "window")


def test_spans_are_bounded_on_long_runs():
    views = spans(np.arange(31_250), WindowConfig())
    sliding = [v for v in views if v[2] == "window"]
    assert len(sliding) <= WindowConfig().max_windows + 1
    assert sliding[0][0] == 0 and sliding[-1][1] == 31_249


def test_bad_window_config_is_refused():
    with pytest.raises(ValueError, match="early_steps"):
        WindowConfig(early_steps=1)
    with pytest.raises(ValueError, match="min_severity"):
        WindowConfig(min_severity="severe")


def test_restrict_keeps_one_run_and_its_steps(make_signals):
    signals = make_signals(runs={"a": {"target": HONEST, "control": HONEST}, "b": {"target": HONEST}})
    cut = restrict(signals, "b", 5, 9)
    assert cut.runs == ["b"] and set(cut.steps["run"].to_pylist()) == {"b"}
    assert sorted(set(cut.steps["step"].to_pylist())) == [5, 6, 7, 8, 9]
    assert cut.families.num_rows == 0 and cut.tokens is None


def test_a_lock_that_rl_breaks_is_reported_from_its_window(make_signals):
    """Locked target for steps 0-9, learned afterwards: pooled detectors read the run as clean; the
    early-warning view finds the starvation and says when it broke."""
    signals = make_signals(phases=LOCK_THEN_LEARN)
    pooled = run_detectors(signals, DetectorConfig(windows=WindowConfig(enabled=False)))
    assert max(f.severity for f in pooled) == Severity.MEDIUM  # transient_starvation alone
    findings = run_detectors(signals)
    windowed = [f for f in findings if "window" in f.evidence]
    starved = next(f for f in windowed if f.detector == "exploration_starvation")
    assert starved.severity == Severity.HIGH and starved.split == "target" and starved.steps == (0, 9)
    w = starved.evidence["window"]
    assert w["kind"] == "early" and w["held_steps"] == [0, 9] and w["broken_at"] == 10 and w["transient"]
    assert w["whole_run_severity"] == "no finding"
    assert starved.summary.startswith("steps 0-9 (the early-warning view): ")
    assert "broken at step 10" in starved.summary
    assert starved.signal == "frac_all_fail"
    assert compute_verdict(findings).label == "hacking-likely"


def test_a_lock_that_holds_to_the_end_is_not_transient(make_signals):
    signals = make_signals(
        phases=[({"target": HONEST, "control": HONEST}, 15), ({"target": LOCKED, "control": HONEST}, 15)]
    )
    (f,) = [f for f in run_detectors(signals) if "window" in f.evidence]
    assert f.detector == "exploration_starvation" and f.severity == Severity.HIGH
    assert f.evidence["window"]["broken_at"] is None and not f.evidence["window"]["transient"]
    assert f.evidence["window"]["held_steps"][1] == 29


def test_a_window_never_repeats_what_the_whole_run_shows(make_signals):
    """Locked throughout: the pooled findings are already HIGH, so no window adds one."""
    findings = run_detectors(make_signals({"target": LOCKED, "control": HONEST}, n_steps=30))
    assert not [f for f in findings if "window" in f.evidence]
    assert compute_verdict(findings).label == "hacking-likely"


@pytest.mark.parametrize(
    "phases",
    [
        [({"target": HONEST, "control": HONEST}, 30)],
        # a target that is harder than control and learns slowly: flat by chance in some window
        [({"target": Behaviour(0.1, 0.4), "control": HONEST}, 30)],
        # failing with varied answers, then learning: can't, then can
        [({"target": INCAPABLE, "control": HONEST}, 10), ({"target": HONEST, "control": HONEST}, 20)],
    ],
    ids=["honest", "harder-target", "incapable-then-learns"],
)
def test_honest_runs_get_no_window_finding(make_signals, phases):
    findings = run_detectors(make_signals(phases=phases))
    assert not [f for f in findings if "window" in f.evidence]
    assert compute_verdict(findings).label == "clean"


def test_medium_windows_count_only_when_asked(make_signals):
    """The harder-target run's one flat window is a MEDIUM; it is reported only when the floor is lowered."""
    # Failures half-varied (a handful of wrong answers): MEDIUM, not the INFO of failures that explore.
    few_wrong = Behaviour(0.1, 0.4, wrong_answers=6)
    signals = make_signals(phases=[({"target": few_wrong, "control": HONEST}, 30)])
    low_floor = DetectorConfig(windows=WindowConfig(min_severity="medium"))
    windowed = [f for f in run_detectors(signals, low_floor) if "window" in f.evidence]
    assert windowed and {f.severity for f in windowed} == {Severity.MEDIUM}


def test_windows_off_gives_the_pooled_findings(make_signals):
    signals = make_signals(phases=LOCK_THEN_LEARN)
    off = run_detectors(signals, DetectorConfig(windows=WindowConfig(enabled=False)))
    on = run_detectors(signals)
    assert [f for f in on if "window" not in f.evidence] == off


def test_windows_config_round_trips_through_json():
    cfg = DetectorConfig(windows={"early_steps": 5})  # type: ignore[arg-type]
    assert cfg.windows == WindowConfig(early_steps=5)
