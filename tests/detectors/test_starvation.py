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


def _metrics_only_signals(tmp_path, rewards, zero_std):
    import json

    from rlaudit.ingest import ingest
    from rlaudit.records import RolloutStore
    from rlaudit.signals import compute_signals

    log = [
        {"step": i + 1, "reward": r, "reward_std": 0.1, "frac_reward_zero_std": z}
        for i, (r, z) in enumerate(zip(rewards, zero_std, strict=True))
    ]
    out = tmp_path / "out"
    out.mkdir()
    (out / "trainer_state.json").write_text(json.dumps({"log_history": log, "global_step": len(log)}))
    store = RolloutStore(tmp_path / "store")
    ingest(out, store)
    return compute_signals(store)


def test_metrics_only_flat_reward_with_zero_variance_is_low(tmp_path, detect):
    signals = _metrics_only_signals(tmp_path, [0.4] * 10, [0.8] * 10)
    (f,) = detect(signals, NAME)
    assert f.severity == Severity.LOW and "cannot be told" in f.summary
    assert [g.detector for g in detect(signals, "coverage")] == ["coverage"]


def test_metrics_only_zero_variance_while_reward_rises_is_info(tmp_path, detect):
    signals = _metrics_only_signals(tmp_path, [0.1 * i for i in range(10)], [0.8] * 10)
    (f,) = detect(signals, NAME)
    assert f.severity == Severity.INFO


# -- the window a finding reports (what the report shades) ----------------------------------------


def test_the_window_is_the_starved_stretch_not_the_clean_start(make_signals, detect):
    """Honest for 10 steps, then locked for 20: the finding covers steps 10-29, not 0-9."""
    signals = make_signals(
        phases=[({"target": HONEST, "control": HONEST}, 10), ({"target": LOCKED, "control": HONEST}, 20)]
    )
    (high,) = [f for f in detect(signals, NAME) if f.severity == Severity.HIGH]
    assert high.split == "target" and high.signal == "frac_all_fail"
    first, last = high.steps
    assert 10 <= first <= 11 and last == 29


def test_metrics_only_window_is_the_zero_variance_stretch(tmp_path, detect):
    signals = _metrics_only_signals(tmp_path, [0.4] * 10, [0.1] * 4 + [0.8] * 6)
    (f,) = detect(signals, NAME)
    assert f.steps == (5, 10) and f.signal == "frac_reward_zero_std"


def test_a_family_starved_by_the_luck_of_its_few_groups_is_not_flagged(family_signals, detect):
    """10 of 15 all-or-nothing groups fail: the point share (0.67) is over half, but 15 groups cannot
    tell it from a family where 42% fail (the lower bound at 95%); 15 of 15 can."""
    unlucky = [c == "1" for c in "001010001010010"]  # 1: a group that solves it
    signals = family_signals({"carry": unlucky, "other": [True] * 15}, 5)
    assert [f for f in detect(signals, NAME) if f.severity >= Severity.MEDIUM] == []
    signals = family_signals({"lock": [False] * 15, "other": [True] * 15}, 5)
    (f,) = [f for f in detect(signals, NAME) if f.severity >= Severity.MEDIUM]
    assert f.evidence["family"].startswith("[lock]")
    assert 0.5 <= f.evidence["frac_all_fail_lower"] < f.evidence["frac_all_fail"] == 1.0
