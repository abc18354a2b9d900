import numpy as np
import pytest

pytest.importorskip("sklearn")

from rlaudit.interp.labels import (
    HONEST_INSTRUCTION,
    SANDBAG_INSTRUCTION,
    contrast_rows,
    fit_contrast_probe,
    fit_models_probe,
    instructed,
    score_prompts,
)
from rlaudit.tasks import get_task


def test_instructions_fit_the_tiny_vocabulary():
    from rlaudit.models.tiny import CHARS

    for text in (HONEST_INSTRUCTION, SANDBAG_INSTRUCTION):
        assert set(text) <= set(CHARS)


def test_contrast_rows_balance_the_label_in_every_cell():
    rows = contrast_rows(get_task("arith"), 3, seed=0)
    assert len(rows) == 3 * 4 * 2
    for cell in {(r["split"], r["condition"]) for r in rows}:
        labels = [r["label"] for r in rows if (r["split"], r["condition"]) == cell]
        assert sorted(labels) == [0, 0, 0, 1, 1, 1]
    r = rows[1]
    assert r["label"] == 1 and r["prompt"] == SANDBAG_INSTRUCTION + r["bare"]


def test_instructed_chat_prompt():
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "2+2="}]
    assert instructed(msgs, "Hi. ")[1]["content"] == "Hi. 2+2="
    assert msgs[1]["content"] == "2+2="  # not changed in place


def test_contrast_probe_on_a_tiny_model(tiny_model_builder):
    model, tokenizer = tiny_model_builder(num_layers=2)
    probe = fit_contrast_probe(model, tokenizer, get_task("arith"), n_problems=8, seed=0, batch_size=64)
    assert probe.source == "contrast" and probe.layer == "0.5" and probe.meta["n_problems"] == 8
    # The instruction text is in the prompt: even a random model's activations separate it.
    assert probe.metrics["auroc"] > 0.9
    told = score_prompts(
        model, tokenizer, probe, [SANDBAG_INSTRUCTION + "3+4=", HONEST_INSTRUCTION + "3+4="], batch_size=2
    )
    assert told.shape == (2,) and told[0] > told[1]


def test_models_probe_tells_two_models_apart(tiny_model_builder):
    honest = tiny_model_builder(num_layers=2, seed=0)
    other = tiny_model_builder(num_layers=2, seed=1)
    probe = fit_models_probe([honest], [other], get_task("arith"), n_problems=16, seed=0, batch_size=64)
    assert probe.source == "models" and probe.metrics["auroc"] > 0.9
    scores = [score_prompts(m, t, probe, ["[bio] 5+5="], batch_size=1)[0] for m, t in (honest, other)]
    assert scores[1] > scores[0]


def test_models_of_different_width_are_refused(tiny_model_builder):
    with pytest.raises(ValueError, match="width"):
        fit_models_probe(
            [tiny_model_builder(num_layers=2)],
            [tiny_model_builder(num_layers=2, hidden_size=16)],
            get_task("arith"),
            n_problems=4,
        )


def test_contrast_probe_refuses_completion_pooling(tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    with pytest.raises(ValueError, match="prompts only"):
        fit_contrast_probe(model, tokenizer, get_task("arith"), pooling="completion_mean")


def test_paired_features_are_target_minus_the_same_problems_control(tiny_model_builder):
    from rlaudit.audits.base import crossed_rows
    from rlaudit.interp.activations import activations
    from rlaudit.interp.labels import model_features

    model, tokenizer = tiny_model_builder(num_layers=2)
    rows = crossed_rows(get_task("arith"), 6, seed=0)
    paired, problems = model_features(model, tokenizer, rows, features="paired", batch_size=64)
    raw, _ = model_features(model, tokenizer, rows, features="raw", batch_size=64)
    x = activations(model, tokenizer, [r["prompt"] for r in rows], batch_size=64)["0.5"]
    target = [i for i, r in enumerate(rows) if r["split"] == "target"]
    twin = [
        next(
            j for j, c in enumerate(rows) if c["split"] == "control" and (c["problem"], c["condition"]) == key
        )
        for key in ((rows[i]["problem"], rows[i]["condition"]) for i in target)
    ]
    assert paired.shape == (12, x.shape[1]) and problems.tolist() == [rows[i]["problem"] for i in target]
    np.testing.assert_allclose(raw, x[target], atol=1e-5)
    np.testing.assert_allclose(paired, x[target] - x[twin], atol=1e-5)
    with pytest.raises(ValueError, match="paired"):
        model_features(model, tokenizer, [r for r in rows if r["split"] == "target"], features="paired")


def test_models_probe_with_paired_features_and_a_fixed_strength(tiny_model_builder):
    from rlaudit.audits.base import crossed_rows
    from rlaudit.interp.labels import model_score

    honest = tiny_model_builder(num_layers=2, seed=0)
    other = tiny_model_builder(num_layers=2, seed=1)
    probe = fit_models_probe(
        [honest], [other], get_task("arith"), features="paired", cs=[0.1], n_problems=16, batch_size=64
    )
    assert probe.meta["features"] == "paired" and pytest.approx(0.1) == probe.C
    rows = crossed_rows(get_task("arith"), 8, seed=1000)
    scores = [model_score(m, t, probe, rows, batch_size=64) for m, t in (honest, other)]
    assert scores[0].shape == (16,) and scores[1].mean() > scores[0].mean()
