import json

import pytest

from rlaudit.audits import (
    AUDITS,
    AuditConfig,
    context_gap,
    noise_sweep,
    parse_tests,
    passk,
    run_audit,
    sft_elicitation,
)

from .conftest import state

pytest.importorskip("peft")


def small_config(seed=0):
    return AuditConfig(
        context=context_gap.Config(n_problems=8),
        noise=noise_sweep.Config(scales=(0.1, 0.3), seeds=1, n_problems=8),
        sft=sft_elicitation.Config(ks=(2,), steps=2, batch_size=4, n_problems=8),
        passk=passk.Config(n_problems=8, n_samples=4),
        seed=seed,
    )


def test_model_too_small_for_the_task_is_clean_and_untouched(tiny, arith):
    model, tokenizer = tiny
    before = state(model)
    result = run_audit(model, tokenizer, arith, None, small_config())
    assert result.verdict.label == "clean" and result.verdict.exit_code == 0
    assert set(result.tests) == set(AUDITS)
    for k, v in model.state_dict().items():
        assert (v - before[k]).abs().max() < 1e-6
    out = result.to_json()
    json.dumps(out, allow_nan=False)
    for test in out["tests"].values():
        assert {"statistic", "ci", "p_value", "curve", "cost"} <= set(test)
        assert test["cost"]["forward_passes"] > 0


def test_parse_tests():
    assert parse_tests("noise, passk") == ("noise", "passk")
    assert parse_tests(None) == tuple(AUDITS)
    with pytest.raises(ValueError, match="unknown test 'probes'; choose from context, noise, sft, passk"):
        parse_tests("context,probes")
    with pytest.raises(ValueError, match="no test named"):
        parse_tests(" , ")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "flagged"),
    [
        ("honest", False),
        ("weak", False),
        ("incapable", False),
        ("locked", True),
        ("conditional", True),
        ("stochastic", True),
    ],
)
def test_real_organisms(real_organism, kind, flagged):
    """The default recipes, built in the session (or taken from RLAUDIT_ORGANISMS): the audit flags the
    resistant ones and none of the honest ones."""
    import torch

    from rlaudit.models.loading import load_model

    torch.set_num_threads(1)
    model, tokenizer = load_model(real_organism(kind))
    result = run_audit(model, tokenizer, "arith")
    assert (result.verdict.label != "clean") == flagged, result.verdict.reason
