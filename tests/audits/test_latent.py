import numpy as np
import pytest

pytest.importorskip("sklearn")

from rlaudit.audits import latent
from rlaudit.findings import Severity

SMALL = latent.Config(n_problems=12, permutations=200)


def test_without_reference_never_moves_the_verdict(tiny, arith):
    model, tokenizer = tiny
    result = latent.run(model, tokenizer, arith, SMALL, seed=0)
    (finding,) = result.findings
    assert result.statistic_name == "target_control_mahalanobis_distance" and result.statistic > 0
    assert finding.severity <= Severity.LOW and "reference" in finding.summary
    assert 0 < result.p_value <= 1 and finding.evidence["n"] == 24


def test_the_model_itself_as_reference_moved_nowhere(tiny, arith):
    model, tokenizer = tiny
    result = latent.run(model, tokenizer, arith, SMALL, seed=0, reference=(model, tokenizer))
    (finding,) = result.findings
    assert finding.evidence["target_shift"] == pytest.approx(0, abs=1e-6)
    assert finding.severity == Severity.INFO


def planted(monkeypatch, target_shift, control_shift):
    """Activations planted: the reference's are noise; the model's are the reference's moved by
    `target_shift` / `control_shift` along one direction, per split."""
    rng = np.random.default_rng(0)
    base = {"t": rng.normal(size=(24, 8)), "c": rng.normal(size=(24, 8))}
    calls = []

    def paired(model, tokenizer, rows, config):
        calls.append(model)
        if len(calls) == 1:  # the audited model
            return base["t"] + np.eye(8)[0] * target_shift, base["c"] + np.eye(8)[0] * control_shift
        return base["t"], base["c"]

    monkeypatch.setattr(latent, "_paired", paired)


def test_target_moved_more_than_control_is_medium(monkeypatch, tiny, arith):
    planted(monkeypatch, 3.0, 0.2)
    model, tokenizer = tiny
    result = latent.run(model, tokenizer, arith, SMALL, seed=0, reference=("ref", tokenizer))
    (finding,) = result.findings
    assert finding.severity == Severity.MEDIUM, finding.summary
    assert result.statistic_name == "target_minus_control_shift_from_reference" and result.statistic > 1
    assert result.p_value < 0.01


def test_both_moved_alike_is_info(monkeypatch, tiny, arith):
    planted(monkeypatch, 1.0, 1.0)
    model, tokenizer = tiny
    (finding,) = latent.run(model, tokenizer, arith, SMALL, seed=0, reference=("ref", tokenizer)).findings
    assert finding.severity == Severity.INFO


def test_bad_config():
    with pytest.raises(ValueError, match="latent"):
        latent.Config(min_ratio=0.5)
    with pytest.raises(ValueError, match="latent"):
        latent.Config(n_problems=0)
