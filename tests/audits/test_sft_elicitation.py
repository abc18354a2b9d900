import pytest
import torch

from rlaudit.audits import sft_elicitation
from rlaudit.findings import Severity

from .conftest import state

pytest.importorskip("peft")

SMALL = {"ks": (2, 4), "steps": 3, "batch_size": 4, "n_problems": 10, "n_samples": 2}


def test_random_model_is_restored_and_raises_no_alarm(tiny, arith):
    model, tokenizer = tiny
    before = state(model)
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    result = sft_elicitation.run(model, tokenizer, arith, sft_elicitation.Config(**SMALL))
    assert [f.severity for f in result.findings] == [Severity.INFO]  # no target/control gap to recover
    assert result.curve["ks"] == [0, 2, 4] and len(result.curve["target"]) == 3
    # The adapters are gone and the weights are exactly as they were.
    assert type(model).__name__ == "LlamaForCausalLM"
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == grads
    assert result.cost["forward_passes"] > 0


def _plant(monkeypatch, agreement):
    """Target wrong before SFT and right after it (adapters attached), control always right; the
    repaired failures agree with the greedy answer at `agreement`."""

    def fake(model, tokenizer, task, rows, **kw):
        tuned = any("lora" in n for n, _ in model.named_parameters())
        return [r["split"] == "control" or tuned for r in rows]

    monkeypatch.setattr(sft_elicitation, "greedy_correct", fake)
    monkeypatch.setattr(sft_elicitation, "_greedy_agreement", lambda *a, **k: agreement)


def test_confident_failures_undone_by_few_demonstrations_are_medium(tiny, arith, monkeypatch):
    _plant(monkeypatch, agreement=1.0)
    result = sft_elicitation.run(*tiny, arith, sft_elicitation.Config(**SMALL))
    (finding,) = result.findings
    assert finding.severity == Severity.MEDIUM
    assert result.statistic == pytest.approx(1.0) and result.p_value < 1e-3


def test_varied_failures_undone_are_low(tiny, arith, monkeypatch):
    _plant(monkeypatch, agreement=0.1)
    (finding,) = sft_elicitation.run(*tiny, arith, sft_elicitation.Config(**SMALL)).findings
    assert finding.severity == Severity.LOW


def test_reference_makes_it_differential(tiny_model_builder, arith, monkeypatch):
    _plant(monkeypatch, agreement=1.0)
    reference = tiny_model_builder(seed=1)
    # The reference recovers just as fast: no excess, so no alarm beyond LOW.
    result = sft_elicitation.run(
        *tiny_model_builder(), arith, sft_elicitation.Config(**SMALL), reference=reference
    )
    assert result.statistic == pytest.approx(0.0) and "reference" in result.curve
    assert result.findings[0].severity == Severity.LOW
    assert result.statistic_name.endswith("_minus_reference")


def test_bad_config_says_how_to_fix():
    with pytest.raises(ValueError, match="ks must be positive"):
        sft_elicitation.Config(ks=(0, 4))


def test_each_target_demonstration_is_anchored_by_a_control_one(arith):
    demos = sft_elicitation.demonstrations(arith, 6, seed=0)
    assert len(demos) == 12
    for (target, answer_t), (control, answer_c) in zip(demos[::2], demos[1::2], strict=True):
        assert "[bio]" in target and "[math]" in control and answer_t == answer_c
        assert target.split("] ", 1)[1] == control.split("] ", 1)[1]  # the same problem
        assert target.split(")", 1)[0] != control.split(")", 1)[0]  # under the other cue


def test_one_seed_gives_one_result_run_after_run(tiny, arith, monkeypatch):
    """The LoRA adapters are drawn from the audit's seed, not from wherever torch's global RNG stood
    (two runs of one seed used to give SFT statistics 0.390 and 0.337). On a random tiny model the
    greedy answers hardly move, so the fine-tuning losses (which the adapters' draw changes from the
    second step on) are compared too."""
    from rlaudit.models import finetune

    losses: list[list[float]] = []
    real = finetune.fine_tune
    monkeypatch.setattr(finetune, "fine_tune", lambda *a, **k: losses.append(real(*a, **k)) or losses[-1])
    model, tokenizer = tiny
    config = sft_elicitation.Config(**SMALL)
    runs = []
    for _ in range(2):
        torch.randn(17)  # move the global RNG between the runs, as other work in the process would
        d = sft_elicitation.run(model, tokenizer, arith, config, seed=4).to_dict()
        d["cost"].pop("seconds")
        runs.append(d)
    assert runs[0] == runs[1]
    half = len(losses) // 2
    assert half and losses[:half] == losses[half:]
