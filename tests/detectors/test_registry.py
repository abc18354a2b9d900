"""The detector registry: detectors register where they are defined, a new module is found by
discovery alone, configs default from the registry, and findings link to a signal."""

from __future__ import annotations

import dataclasses
import sys
import textwrap

import pytest

import rlaudit.detectors as detectors
from rlaudit.detectors import DETECTORS, Detector, DetectorConfig, discover, run_detectors
from rlaudit.detectors.cue_gap import CueGapConfig
from rlaudit.detectors.starvation import StarvationConfig
from rlaudit.signals import COMPONENTS, SIGNALS, compute_signals
from rlaudit.synthetic import HONEST, LOCKED

BUILT_IN = {
    "exploration_starvation",
    "diversity_collapse",
    "selective_underperformance",
    "cue_gap",
    "reward_config_invariance",
    "length_drift",
    "reward_component_dominance",
}


def test_every_built_in_detector_registers_itself():
    assert set(DETECTORS) >= BUILT_IN
    for name, d in DETECTORS.items():
        assert d.name == name and d.doc and d.module.startswith("rlaudit.detectors.")
        assert dataclasses.is_dataclass(d.config()) and all(s in SIGNALS for s in d.signals)


def test_config_defaults_come_from_the_registry():
    cfg = DetectorConfig({"cue_gap": CueGapConfig(alpha=0.001)})
    assert set(cfg) == set(DETECTORS)
    assert cfg["cue_gap"].alpha == 0.001
    assert cfg["exploration_starvation"] == StarvationConfig()
    assert cfg["length_drift"] is not cfg["reward_component_dominance"]


def test_a_saved_config_round_trips():
    cfg = DetectorConfig({"exploration_starvation": StarvationConfig(min_steps=7)}, enabled=("cue_gap",))
    saved = dataclasses.asdict(cfg)
    again = DetectorConfig(**saved)
    assert again == cfg and again["exploration_starvation"].min_steps == 7


def test_bad_configs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown detector"):
        DetectorConfig({"nope": StarvationConfig()})
    with pytest.raises(TypeError, match="must be CueGapConfig"):
        DetectorConfig({"cue_gap": StarvationConfig()})


def test_a_detector_reading_an_unregistered_signal_is_refused():
    with pytest.raises(ValueError, match="unregistered signal"):
        Detector("reads_nothing_real", lambda s, c: [], signals=("no_such_signal",))


def test_a_taken_name_is_refused():
    def other(signals, cfg):
        return []

    with pytest.raises(ValueError, match="already registered"):
        detectors.register_detector(Detector("cue_gap", other))


def test_findings_link_to_a_signal(make_signals):
    findings = run_detectors(make_signals({"target": LOCKED, "control": HONEST}))
    linked = [f for f in findings if f.detector in DETECTORS]
    assert linked
    assert all(f.signal in SIGNALS or f.signal == COMPONENTS for f in linked)
    (starved,) = [f for f in linked if f.detector == "exploration_starvation" and f.split == "target"]
    assert starved.signal == "frac_all_fail"  # the detector's first declared signal


PLANTED_MODULE = '''
    """A planted detector with its own signal: the best group mean reward of each step."""
    from dataclasses import dataclass

    from rlaudit.detectors import detector
    from rlaudit.findings import Finding, Severity
    from rlaudit.signals import SignalSpec, register_signal

    register_signal(SignalSpec("planted_best_group", "max(r_mean)", "best group mean reward", "reward"))


    @dataclass
    class PlantedConfig:
        threshold: float = 0.5


    @detector("planted_best_group", config=PlantedConfig, signals=("planted_best_group",))
    def detect(signals, cfg):
        steps, best = signals.series("planted_best_group", run=signals.runs[0], split="control")
        hit = steps[best >= cfg.threshold]
        return [Finding("planted_best_group", Severity.LOW, 0.5, "planted", (int(hit.min()), int(hit.max())),
                        evidence={"best": float(best.max())})]
'''


@pytest.fixture
def planted_module(tmp_path, monkeypatch):
    """A new detector module dropped into the package's path: nothing else is edited."""
    (tmp_path / "planted_best_group.py").write_text(textwrap.dedent(PLANTED_MODULE))
    monkeypatch.setattr(detectors, "__path__", [*detectors.__path__, str(tmp_path)])
    yield "rlaudit.detectors.planted_best_group"
    DETECTORS.pop("planted_best_group", None)
    SIGNALS.pop("planted_best_group", None)
    sys.modules.pop("rlaudit.detectors.planted_best_group", None)


def test_a_new_module_is_found_and_its_signal_computed(planted_module, tmp_path):
    from rlaudit.ingest import ingest
    from rlaudit.records import RolloutStore
    from rlaudit.synthetic import synthetic_rollouts, write_jsonl

    assert planted_module in discover(detectors)
    assert "planted_best_group" in DETECTORS and "planted_best_group" in SIGNALS
    path = tmp_path / "run.jsonl"
    write_jsonl(synthetic_rollouts({"control": HONEST}, run="run", seed=0), str(path))
    store = RolloutStore(tmp_path / "store")
    ingest(path, store)
    signals = compute_signals(store)
    assert "planted_best_group" in signals.steps.column_names
    (f,) = [f for f in run_detectors(signals) if f.detector == "planted_best_group"]
    assert f.signal == "planted_best_group" and f.evidence["best"] == 1.0
    assert DetectorConfig()["planted_best_group"].threshold == 0.5
