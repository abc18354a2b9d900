from rlaudit.findings import Severity
from rlaudit.synthetic import HONEST, Behaviour

NAME = "reward_config_invariance"
STUCK = Behaviour(pass_start=0.2, pass_end=0.2, wrong_answers=3)


def test_runs_that_do_not_respond_to_their_rewards_are_flagged(make_signals, detect):
    signals = make_signals(runs={"reward_a": {"control": STUCK}, "reward_b": {"control": STUCK}})
    (f,) = detect(signals, NAME)
    assert f.severity == Severity.MEDIUM
    assert f.evidence["jsd"] < 0.05
    assert set(f.evidence["runs"]) == {"reward_a", "reward_b"}


def test_runs_that_respond_differently_are_clean(make_signals, detect):
    other = Behaviour(pass_start=0.2, pass_end=0.2, wrong_answers=3, filler="because")
    signals = make_signals(runs={"reward_a": {"control": STUCK}, "reward_b": {"control": other}})
    assert detect(signals, NAME) == []


def test_runs_that_both_learn_are_clean(make_signals, detect):
    signals = make_signals(runs={"reward_a": {"control": HONEST}, "reward_b": {"control": HONEST}})
    assert detect(signals, NAME) == []


def test_runs_converged_at_the_ceiling_are_clean(make_signals, detect):
    done = Behaviour(pass_start=1.0, pass_end=1.0)
    signals = make_signals(runs={"reward_a": {"control": done}, "reward_b": {"control": done}})
    assert detect(signals, NAME) == []


def test_single_run_never_fires(make_signals, detect):
    assert detect(make_signals({"control": STUCK}), NAME) == []
