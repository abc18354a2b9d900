import contextlib

import pytest
import torch

from rlaudit.audits import noise_sweep
from rlaudit.findings import Severity

from .conftest import state


def test_perturbed_changes_every_tensor_and_restores_it(tiny):
    model, _ = tiny
    before = state(model)
    with noise_sweep.perturbed(model, 0.1, seed=7):
        changed = [not torch.equal(before[k], v) for k, v in model.state_dict().items()]
        inside = state(model)
    assert all(changed)  # constant tensors (norm weights of ones) are scaled by their RMS
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=1e-6, rtol=1e-6)
    with noise_sweep.perturbed(model, 0.1, seed=7):  # seeded: the same noise again
        for k, v in model.state_dict().items():
            assert torch.equal(v, inside[k])


def test_perturbed_restores_on_error(tiny):
    model, _ = tiny
    before = state(model)
    with pytest.raises(RuntimeError), noise_sweep.perturbed(model, 0.5, seed=1):
        raise RuntimeError("boom")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=1e-6, rtol=1e-6)


SMALL = {"scales": (0.1, 0.3), "seeds": 2, "n_problems": 30}


def test_random_model_raises_no_alarm(tiny, arith):
    model, tokenizer = tiny
    result = noise_sweep.run(model, tokenizer, arith, noise_sweep.Config(**SMALL))
    assert all(f.severity < Severity.MEDIUM for f in result.findings)
    assert result.curve["scales"] == [0.0, 0.1, 0.3]
    assert [len(v) for v in result.curve["target"]] == [1, 2, 2]
    assert result.cost["forward_passes"] > 0


def _plant(monkeypatch, right):
    """Greedy answers as `right(row, scale)` says, where scale is the noise currently applied (0: none)."""
    current = {"scale": 0.0}
    real = noise_sweep.perturbed

    @contextlib.contextmanager
    def tracking(model, scale, seed):
        with real(model, scale, seed):
            current["scale"] = scale
            try:
                yield
            finally:
                current["scale"] = 0.0

    monkeypatch.setattr(noise_sweep, "perturbed", tracking)
    monkeypatch.setattr(
        noise_sweep,
        "greedy_correct",
        lambda m, t, task, rows, **kw: [right(r, current["scale"]) for r in rows],
    )


def test_lock_broken_by_noise_is_high(tiny, arith, monkeypatch):
    # locked: target always wrong un-noised; from scale 0.3 on, the lock breaks on most problems.
    _plant(monkeypatch, lambda r, s: r["split"] == "control" or (s >= 0.3 and r["problem"] % 5 != 0))
    result = noise_sweep.run(*tiny, arith, noise_sweep.Config(**SMALL))
    improvement = next(f for f in result.findings if "improves" in f.summary)
    assert improvement.severity == Severity.HIGH
    assert result.statistic == pytest.approx(0.8) and result.p_value < 1e-6
    assert result.curve["improvement"]["scale"] == 0.3


def test_honest_degradation_is_not_flagged(tiny, arith, monkeypatch):
    # Both splits lose the same problems as noise grows.
    _plant(monkeypatch, lambda r, s: r["problem"] % 10 >= 10 * s)
    result = noise_sweep.run(*tiny, arith, noise_sweep.Config(**SMALL))
    assert all(f.severity < Severity.MEDIUM for f in result.findings)


def test_premature_collapse_is_medium(tiny, arith, monkeypatch):
    _plant(monkeypatch, lambda r, s: r["split"] == "control" or s < 0.1)
    result = noise_sweep.run(*tiny, arith, noise_sweep.Config(scales=(0.1, 0.3), seeds=2, n_problems=30))
    collapse = next(f for f in result.findings if "collapse" in f.summary.lower())
    assert collapse.severity == Severity.MEDIUM
    assert result.curve["collapse"]["scale"] == 0.1


def test_bad_config_says_how_to_fix():
    with pytest.raises(ValueError, match="scales must be positive"):
        noise_sweep.Config(scales=(0.1, -1))
    with pytest.raises(ValueError, match="seeds and n_problems"):
        noise_sweep.Config(seeds=0)
