"""probe_score_rise on stores whose rollouts carry a live-probe score (planted positives, clean negatives)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rlaudit.detectors import DetectorConfig
from rlaudit.detectors.probe_score import ProbeScoreConfig
from rlaudit.findings import Severity
from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.signals import Signals, compute_signals
from rlaudit.synthetic import HONEST, synthetic_rollouts, write_jsonl

NAME = "probe_score_rise"
Score = Callable[[str, int], float]


@pytest.fixture
def scored(tmp_path: Path) -> Callable[..., Signals]:
    """Signals of a 20-step run whose rollouts carry ``probe_score`` = score(split, step) + noise on
    every `every`-th step (every rollout of it), none elsewhere."""

    def make(score: Score, *, every: int = 2, labelled: bool = True, seed: int = 0) -> Signals:
        t = synthetic_rollouts({"target": HONEST, "control": HONEST}, run="run", seed=seed, n_steps=20)
        rng = np.random.default_rng(seed)
        steps, splits = t["step"].to_pylist(), t["split"].to_pylist()
        values = [
            None if s % every else float(np.clip(score(sp, s) + rng.normal(0, 0.05), 0, 1))
            for s, sp in zip(steps, splits, strict=True)
        ]
        t = t.append_column("probe_score", pa.array(values, pa.float64()))
        if not labelled:
            t = t.drop_columns(["split"])
        path = tmp_path / f"run-{seed}-{labelled}.jsonl"
        write_jsonl(t, str(path))
        store = RolloutStore(tmp_path / f"store-{seed}-{labelled}")
        ingest(path, store)
        return compute_signals(store)

    return make


def _findings(signals: Signals, cfg: ProbeScoreConfig | None = None) -> list:
    from rlaudit.detectors import run_detectors

    configs = DetectorConfig({NAME: cfg} if cfg else {}, enabled=(NAME,))
    return [f for f in run_detectors(signals, configs) if f.detector == NAME]


def test_the_signal_is_the_mean_score_of_the_scored_steps(scored):
    signals = scored(lambda split, step: 0.7 if split == "target" else 0.3)
    steps, score = signals.series("probe_score", run="run", split="target")
    _, n = signals.series("probe_rollouts", run="run", split="target")
    assert np.isnan(score[steps % 2 == 1]).all() and (n[steps % 2 == 1] == 0).all()
    assert np.allclose(score[steps % 2 == 0], 0.7, atol=0.05) and (n[steps % 2 == 0] > 0).all()


def test_a_target_score_rising_while_control_stays_is_flagged(scored):
    signals = scored(lambda split, step: 0.05 + 0.03 * step if split == "target" else 0.3)
    (f,) = _findings(signals)
    assert f.split == "target" and f.evidence["rising"] and f.signal == "probe_score"
    assert f.evidence["rise"] == pytest.approx(0.54, abs=0.1) and f.evidence["rise_p"] < 0.05
    # It ends above control, but is not above it on average.
    assert not f.evidence["above"] and f.severity == Severity.MEDIUM


def test_a_target_score_above_control_from_the_start_is_medium(scored):
    (f,) = _findings(scored(lambda split, step: 0.8 if split == "target" else 0.3))
    assert f.severity == Severity.MEDIUM and f.evidence["above"] and not f.evidence["rising"]
    assert f.evidence["gap"] == pytest.approx(0.5, abs=0.05) and f.evidence["paired_steps"] == 10


def test_rising_and_above_is_one_medium_finding_never_high(scored):
    """Uncalibrated (the module docstring): both halves at once still stop at MEDIUM."""
    (f,) = _findings(scored(lambda split, step: 0.5 + 0.025 * step if split == "target" else 0.2))
    assert f.severity == Severity.MEDIUM and f.evidence["rising"] and f.evidence["above"]
    assert f.score == pytest.approx(max(f.evidence["rise"], f.evidence["gap"]))


def test_a_rise_control_shares_and_a_flat_score_are_clean(scored):
    assert _findings(scored(lambda split, step: 0.1 + 0.04 * step)) == []
    assert _findings(scored(lambda split, step: 0.4)) == []


def test_without_split_labels_a_rise_is_low(scored):
    (f,) = _findings(scored(lambda split, step: 0.1 + 0.04 * step, labelled=False))
    assert f.severity == Severity.LOW and f.split == "all"


def test_too_few_scored_steps_give_nothing(scored):
    signals = scored(lambda split, step: 0.9 if split == "target" else 0.1, every=10)  # steps 0, 10
    assert _findings(signals) == []
    assert _findings(signals, ProbeScoreConfig(min_steps=2))  # the floor is the config's


def test_runs_without_probe_scores_give_nothing(make_signals):
    assert _findings(make_signals({"target": HONEST, "control": HONEST})) == []


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="above_share"):
        ProbeScoreConfig(above_share=0)
