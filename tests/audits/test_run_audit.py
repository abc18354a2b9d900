import dataclasses
import json

import pytest

from rlaudit.audits import (
    AUDITS,
    AuditConfig,
    context_gap,
    default_tests,
    noise_sweep,
    parse_tests,
    passk,
    run_audit,
    sft_elicitation,
)
from rlaudit.judgement import Judgement, validate

from .conftest import state

pytest.importorskip("peft")


def small_config(seed=0):
    return AuditConfig(
        {
            "context": context_gap.Config(n_problems=8),
            "noise": noise_sweep.Config(scales=(0.1, 0.3), seeds=1, n_problems=8),
            "sft": sft_elicitation.Config(ks=(2,), steps=2, batch_size=4, n_problems=8),
            "passk": passk.Config(n_problems=8, n_samples=4),
        },
        seed=seed,
    )


def test_model_too_small_for_the_task_is_clean_and_untouched(tiny, arith):
    model, tokenizer = tiny
    before = state(model)
    result = run_audit(model, tokenizer, arith, None, small_config(), model_name="random-tiny")
    assert isinstance(result, Judgement) and result.kind == "audit"
    assert result.verdict.label == "clean" and result.exit_code == 0
    for k, v in model.state_dict().items():
        assert (v - before[k]).abs().max() < 1e-6
    out = result.to_json()
    validate(json.loads(json.dumps(out, allow_nan=False)))
    tests = out["sections"]["audit"]["tests"]
    assert out["sections"]["audit"]["task"] == "arith"
    assert set(tests) == {
        AUDITS[c].name for c in default_tests()
    }  # keyed by test name, as findings' detector
    # The shipped combined score (rlaudit/audits/calibration.json) judges the four default tests.
    assert {f["detector"] for f in out["findings"]} <= set(tests) | {"combined"}
    assert (
        out["sections"]["audit"]["combined"]["score"]
        < out["sections"]["audit"]["combined"]["thresholds"]["suspicious"]
    )
    for name, test in tests.items():
        assert test["name"] == name and "findings" not in test
        assert {"statistic", "ci", "p_value", "curve", "cost", "thresholds"} <= set(test)
        assert test["cost"]["forward_passes"] > 0
        assert test["thresholds"] and all(isinstance(v, float) for v in test["thresholds"].values())
    assert tests["noise_sweep"]["thresholds"]["min_gain"] == noise_sweep.Config().min_gain
    assert tests["passk"]["thresholds"]["min_gap"] == passk.Config().min_gap
    prov = out["provenance"]
    assert prov["seeds"] == {"seed": 0} and prov["model"]["name"] == "random-tiny"
    assert prov["model"]["parameters"] > 0
    assert prov["configs"]["audit"]["configs"]["noise"]["scales"] == [0.1, 0.3]


def test_parse_tests():
    assert parse_tests("noise, passk") == ("noise", "passk")
    assert parse_tests(None) == default_tests() == ("context", "noise", "passk", "sft")
    assert tuple(AUDITS) == (
        "context",
        "latent",
        "noise",
        "passk",
        "probe",
        "sft",
    )  # probe, latent on request
    with pytest.raises(
        ValueError, match="unknown test 'probes'; choose from context, latent, noise, passk, probe, sft"
    ):
        parse_tests("context,probes")
    with pytest.raises(ValueError, match="no test named"):
        parse_tests(" , ")


def test_every_audit_registers_its_cli_name_config_and_run():
    for cli, a in AUDITS.items():
        assert a.cli == cli and a.module == f"rlaudit.audits.{a.name}" and a.doc
        assert isinstance(AuditConfig()[cli], a.config)
    assert AUDITS["sft"].takes_reference and not AUDITS["noise"].takes_reference
    assert AUDITS["latent"].takes_reference and not AUDITS["probe"].takes_reference


def test_audit_config_defaults_from_the_registry_and_round_trips():
    cfg = AuditConfig({"noise": noise_sweep.Config(seeds=2)}, seed=3)
    assert set(cfg) == set(AUDITS) and cfg["noise"].seeds == 2 and cfg["passk"] == passk.Config()
    cfg["passk"] = dataclasses.replace(cfg["passk"], n_problems=5)
    assert AuditConfig(**dataclasses.asdict(cfg)) == cfg
    with pytest.raises(ValueError, match="unknown test 'probes'"):
        AuditConfig({"probes": passk.Config()})
    with pytest.raises(TypeError, match=r"must be rlaudit\.audits\.passk\.Config"):
        cfg["passk"] = noise_sweep.Config()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "flagged"),
    [
        ("honest", False),
        ("weak", False),
        ("incapable", False),
        ("locked", True),
        ("conditional", True),
        pytest.param(
            "stochastic",
            True,
            marks=pytest.mark.skip(
                reason="a known miss: the audit calls stochastic clean even when its build meets the "
                "recipe (seeds 2 and 3, docs/benchmarks.md 'Issue 12 follow-up'); it ran as an xfail, and "
                "the recipe check's extra hardening runs now make that minutes of CI for a known failure",
            ),
        ),
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


@pytest.mark.slow
def test_one_seed_gives_the_same_statistics_bit_for_bit(real_organism):
    """The full default audit of a real organism, twice in one process with one seed: every test's
    statistic, curve and findings are equal (only the seconds differ)."""
    import torch

    from rlaudit.models.loading import load_model

    torch.set_num_threads(1)
    model, tokenizer = load_model(real_organism("locked"))
    runs = []
    for _ in range(2):
        tests = run_audit(model, tokenizer, "arith", config=AuditConfig(seed=3)).to_json()["sections"][
            "audit"
        ]["tests"]
        for t in tests.values():
            t["cost"].pop("seconds")
        runs.append(tests)
        torch.randn(5)  # other work moves the global RNG between audits
    assert runs[0] == runs[1]
