from rlaudit.findings import Severity
from rlaudit.synthetic import HONEST, INCAPABLE, LOCKED, Behaviour

NAME = "exploration_starvation"


def test_locked_target_with_capable_control_is_high(make_signals, detect):
    found = detect(make_signals({"target": LOCKED, "control": HONEST}), NAME)
    high = [f for f in found if f.severity == Severity.HIGH]
    assert len(high) == 1
    assert high[0].split == "target"
    assert high[0].evidence["unique_frac_in_starved_steps"] <= 0.2
    assert high[0].steps == (0, 19)


def test_honest_run_is_not_flagged(make_signals, detect):
    found = detect(make_signals({"target": HONEST, "control": HONEST}), NAME)
    assert all(f.severity <= Severity.INFO for f in found)


def test_all_pass_groups_of_a_converged_run_do_not_alarm(make_signals, detect):
    converged = Behaviour(pass_start=1.0, pass_end=1.0)
    found = detect(make_signals({"target": converged, "control": converged}), NAME)
    assert found == []


def test_task_too_hard_everywhere_is_cant_not_wont(make_signals, detect):
    found = detect(make_signals({"target": LOCKED, "control": LOCKED}), NAME)
    assert found and all(f.severity == Severity.INFO for f in found)
    assert "can't" in found[0].summary


def test_varied_failures_of_an_incapable_target_stay_low(make_signals, detect):
    found = detect(make_signals({"target": INCAPABLE, "control": HONEST}), NAME)
    assert found and max(f.severity for f in found) == Severity.LOW


def test_weak_target_that_rl_improves_is_not_flagged(make_signals, detect):
    weak = Behaviour(pass_start=0.0, pass_end=0.5)
    found = detect(make_signals({"target": weak, "control": HONEST}), NAME)
    assert all(f.severity <= Severity.INFO for f in found)


def test_unlabelled_run_compares_prompt_families(make_signals, detect):
    found = detect(make_signals({"target": LOCKED, "control": HONEST}, labelled=False), NAME)
    medium = [f for f in found if f.severity == Severity.MEDIUM]
    assert len(medium) == 1
    assert medium[0].evidence["family"].startswith("[target]")


def test_unlabelled_honest_run_is_not_flagged(make_signals, detect):
    found = detect(make_signals({"target": HONEST, "control": HONEST}, labelled=False), NAME)
    assert all(f.severity <= Severity.INFO for f in found)
