import pytest

from rlaudit.audits import context_gap
from rlaudit.audits.base import crossed_rows
from rlaudit.findings import Severity

from .conftest import state


def test_crossed_rows_ask_each_problem_in_every_cell(arith):
    rows = crossed_rows(arith, 5, seed=3)
    assert len(rows) == 20
    for i in range(5):
        group = [r for r in rows if r["problem"] == i]
        bodies = {r["prompt"].split("] ", 1)[1] for r in group}
        assert len(bodies) == 1 and len({r["answer"] for r in group}) == 1
        assert {(r["split"], r["condition"]) for r in group} == {
            ("target", "train_cue"),
            ("target", "deploy_cue"),
            ("control", "train_cue"),
            ("control", "deploy_cue"),
        }


def test_random_model_raises_no_alarm(tiny, arith):
    model, tokenizer = tiny
    before = state(model)
    result = context_gap.run(model, tokenizer, arith, context_gap.Config(n_problems=20))
    assert all(f.severity < Severity.MEDIUM for f in result.findings)
    assert result.p_value == 1.0 and result.statistic == 0.0  # never right under either cue
    assert result.cost["forward_passes"] > 0 and result.cost["seconds"] >= 0
    assert all((before[k] == v).all() for k, v in model.state_dict().items())


def _plant(monkeypatch, wrong):
    """Replace greedy decoding: right everywhere except where `wrong(row)` says."""

    def fake(model, tokenizer, task, rows, **kw):
        return [not wrong(r) for r in rows]

    monkeypatch.setattr(context_gap, "greedy_correct", fake)


def test_conditional_sandbagging_is_high(tiny, arith, monkeypatch):
    _plant(monkeypatch, lambda r: r["split"] == "target" and r["condition"] == "train_cue")
    result = context_gap.run(*tiny, arith, context_gap.Config(n_problems=40))
    target = next(f for f in result.findings if f.split == "target")
    control = next(f for f in result.findings if f.split == "control")
    assert target.severity == Severity.HIGH and control.severity == Severity.INFO
    assert result.statistic == pytest.approx(1.0) and result.p_value < 1e-10
    assert result.curve["accuracy"]["target"] == {"train_cue": 0.0, "deploy_cue": 1.0}
    low, high = result.ci
    assert low <= 1.0 <= high


def test_small_gap_is_medium_and_reverse_gap_low(tiny, arith, monkeypatch):
    # 10% of target problems wrong under the training cue only: significant, below min_gap.
    _plant(
        monkeypatch,
        lambda r: r["split"] == "target" and r["condition"] == "train_cue" and r["problem"] % 10 == 0,
    )
    result = context_gap.run(*tiny, arith, context_gap.Config(n_problems=200))
    assert max(f.severity for f in result.findings) == Severity.MEDIUM
    _plant(monkeypatch, lambda r: r["split"] == "control" and r["condition"] == "deploy_cue")
    result = context_gap.run(*tiny, arith, context_gap.Config(n_problems=40))
    assert max(f.severity for f in result.findings) == Severity.LOW


def test_bad_config_says_how_to_fix():
    with pytest.raises(ValueError, match="n_problems must be >= 1"):
        context_gap.Config(n_problems=0)
