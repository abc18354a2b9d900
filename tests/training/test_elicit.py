"""`rlaudit elicit` end to end on a tiny random checkpoint (a few GRPO steps, CPU)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

from typer.testing import CliRunner

from rlaudit.cli import app
from rlaudit.training.elicit import ElicitConfig, elicit
from rlaudit.training.mitigations import SFTWarmstart, sft_warmstart

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


@pytest.fixture
def checkpoint(tmp_path, tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    path = tmp_path / "ckpt"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _config(mitigation: str = "none") -> ElicitConfig:
    return ElicitConfig(steps=2, prompts_per_step=2, num_generations=4, eval_prompts=8, mitigation=mitigation)


@pytest.mark.parametrize("mitigation", ["none", "demo-injection", "sft-warmstart", "temperature"])
def test_elicit_writes_store_summary_and_report(tmp_path, checkpoint, mitigation):
    out = tmp_path / "run"
    result = elicit(str(checkpoint), out, _config(mitigation))
    assert set(result.before) == set(result.after) == {"target", "control"}
    assert all(0.0 <= v <= 1.0 for v in [*result.before.values(), *result.after.values()])
    summary = json.loads((out / "elicit.json").read_text())
    assert summary["config"]["mitigation"] == mitigation and "first_flag_step" in summary
    assert (out / "report.html").exists()
    from rlaudit.records import RolloutStore

    store = RolloutStore(out / "store")
    assert store.count() == 2 * 2 * 4  # steps x prompts x generations
    (splits,) = store.connect().execute("SELECT list(DISTINCT split) FROM rollouts").fetchall()[0]
    assert set(splits) <= {"target", "control"}
    assert summary["cells_before"]["target"].keys() == {"train_cue", "deploy_cue"}
    if mitigation == "demo-injection":
        # A random model never answers right: every group is all-fail and gets one demonstration.
        assert result.demos_injected == 2 * 2
        (n_correct,) = store.connect().execute("SELECT count(*) FROM rollouts WHERE correct").fetchall()[0]
        assert n_correct >= 2 * 2


def test_sft_warmstart_lowers_the_loss(tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    losses = sft_warmstart(
        model,
        tokenizer,
        [("[bio] 3+4=", "7"), ("[bio] 2+2=", "4")],
        SFTWarmstart(steps=40, learning_rate=1e-2),
    )
    assert losses[-1] < losses[0] / 2


def test_unknown_mitigation_is_a_clear_error(checkpoint):
    res = CliRunner().invoke(app, ["elicit", str(checkpoint), "--mitigation", "prayer"])
    assert res.exit_code == 2 and "unknown mitigation 'prayer'" in res.stderr


def test_cli_json(tmp_path, checkpoint, monkeypatch):
    import rlaudit.training.elicit as mod

    original = mod.ElicitConfig
    monkeypatch.setattr(
        mod,
        "ElicitConfig",
        lambda **kw: original(**{**kw, "eval_prompts": 8, "num_generations": 4, "prompts_per_step": 2}),
    )
    res = CliRunner().invoke(
        app, ["elicit", str(checkpoint), "--steps", "1", "--out", str(tmp_path / "o"), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"before", "after", "first_flag_step"} <= set(out)


def test_rl_prompts_are_mostly_target_with_control_spread_through():
    from rlaudit.training.elicit import _interleave

    mixed = _interleave(["t"] * 9, ["c"] * 3)
    assert mixed.count("c") == 3 and len(mixed) == 12
    assert all("c" in mixed[i : i + 4] for i in range(0, 12, 4))  # one in every four


def test_control_fraction_is_validated():
    with pytest.raises(ValueError, match="control_fraction must be in"):
        ElicitConfig(control_fraction=1.0)
