import json

from rlaudit.detectors import run_detectors
from rlaudit.findings import Severity
from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.signals import compute_signals
from rlaudit.synthetic import HONEST, Behaviour


def test_length_drift_fires_low(make_signals, detect):
    growing = Behaviour(pass_start=0.5, pass_end=0.5, words=3, word_growth=1.0)
    (f,) = detect(make_signals({"control": growing}), "length_drift")
    assert f.severity == Severity.LOW
    assert f.evidence["relative_change"] > 1


def test_stable_length_is_clean(make_signals, detect):
    assert detect(make_signals({"control": Behaviour(pass_start=0.5, pass_end=0.5)}), "length_drift") == []


def _components_run(tmp_path, fmt_gain: float, acc_gain: float):
    """Two reward components over 20 steps: `fmt` and `acc` rise by the given amounts."""
    path = tmp_path / "run.jsonl"
    with open(path, "w") as f:
        for step in range(20):
            for g in range(4):
                for i in range(4):
                    frac = step / 19
                    fmt = round(0.2 + fmt_gain * frac + 0.05 * ((i + g) % 2), 3)
                    acc = round(0.3 + acc_gain * frac + 0.05 * (i % 2), 3)
                    rec = {"step": step, "prompt": f"p{g}", "completion": f"c{i}", "reward": fmt + acc}
                    rec["rewards"] = {"fmt": fmt, "acc": acc}
                    f.write(json.dumps(rec) + "\n")
    store = RolloutStore(tmp_path / "store")
    ingest(path, store)
    return compute_signals(store)


def test_one_component_carrying_all_the_gain_fires(tmp_path):
    findings = run_detectors(_components_run(tmp_path, fmt_gain=0.6, acc_gain=0.0))
    (f,) = [f for f in findings if f.detector == "reward_component_dominance"]
    assert f.severity == Severity.LOW
    assert f.evidence["gains"]["fmt"] > 0.4


def test_both_components_learning_is_clean(tmp_path):
    findings = run_detectors(_components_run(tmp_path, fmt_gain=0.4, acc_gain=0.4))
    assert not [f for f in findings if f.detector == "reward_component_dominance"]


def test_a_single_correctness_reward_never_fires(make_signals, detect):
    assert detect(make_signals({"control": HONEST}), "reward_component_dominance") == []


def test_length_drift_window_starts_where_the_length_left_its_band(make_signals, detect):
    """Stable for 10 steps, then growing a word a step: the window is the drifted part only."""
    stable = Behaviour(pass_start=0.5, pass_end=0.5, words=3)
    growing = Behaviour(pass_start=0.5, pass_end=0.5, words=3, word_growth=1.0)
    signals = make_signals(phases=[({"control": stable}, 10), ({"control": growing}, 10)])
    (f,) = detect(signals, "length_drift")
    assert f.signal == "length_mean"
    first, last = f.steps
    assert 10 <= first <= 13 and last == 19


def test_dominance_links_to_the_components_plot(tmp_path):
    findings = run_detectors(_components_run(tmp_path, fmt_gain=0.6, acc_gain=0.0))
    (f,) = [f for f in findings if f.detector == "reward_component_dominance"]
    assert f.signal == "components"
