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
