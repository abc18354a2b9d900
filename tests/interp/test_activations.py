import numpy as np
import pytest

from rlaudit.interp import activations

from .conftest import COMPLETIONS, PROMPTS


@pytest.mark.parametrize("pooling", ["completion_mean", "last_prompt", "last"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_and_padded_rows_match_each_row_alone(tiny3, pooling, side):
    model, tokenizer = tiny3
    together = activations(
        model,
        tokenizer,
        PROMPTS,
        COMPLETIONS,
        layers=("0.5",),
        pooling=pooling,
        batch_size=3,
        padding_side=side,
    )["0.5"]
    alone = np.stack(
        [
            activations(model, tokenizer, [p], [c], layers=("0.5",), pooling=pooling, batch_size=1)["0.5"][0]
            for p, c in zip(PROMPTS, COMPLETIONS, strict=True)
        ]
    )
    assert together.shape == (3, 32) and together.dtype == np.float32
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_last_prompt_ignores_the_completion(tiny3):
    model, tokenizer = tiny3
    with_completion = activations(model, tokenizer, PROMPTS, COMPLETIONS, pooling="last_prompt", batch_size=2)
    without = activations(model, tokenizer, PROMPTS, pooling="last_prompt", batch_size=2)
    np.testing.assert_allclose(with_completion["0.5"], without["0.5"], atol=1e-5)
    last = activations(model, tokenizer, PROMPTS, COMPLETIONS, pooling="last", batch_size=2)
    assert not np.allclose(last["0.5"], without["0.5"])


def test_completion_mean_needs_completions(tiny3):
    model, tokenizer = tiny3
    with pytest.raises(ValueError, match="needs completions"):
        activations(model, tokenizer, PROMPTS, pooling="completion_mean")
    with pytest.raises(ValueError, match="completions"):
        activations(model, tokenizer, PROMPTS, COMPLETIONS[:2])


def test_model_mode_and_hooks_restored(tiny3):
    model, tokenizer = tiny3
    model.train()
    activations(model, tokenizer, PROMPTS, layers=("0", "1"), batch_size=2)
    assert model.training
    assert not any(m._forward_hooks for m in model.modules())


def test_chat_template_rendering_through_render_prompt(tiny3):
    """A tokenizer with a chat template feeds the rendered prompt (what `sample` feeds)."""
    from rlaudit.interp.activations import encode
    from rlaudit.models.sampling import render_prompt

    _, tokenizer = tiny3
    tokenizer.chat_template = "{% for m in messages %}<{{ m['content'] }}>{% endfor %}"
    ids, lengths = encode(tokenizer, ["1+2="], ["3"])
    rendered = render_prompt(tokenizer, "1+2=")
    assert rendered == "<1+2=>"
    assert lengths == [len(rendered)]  # no BOS: the template writes its own special tokens
    assert tokenizer.decode(ids[0]) == "<1+2=>3"


def test_a_peft_wrapped_model_gives_the_base_vectors_at_init(tiny3):
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny3
    base = activations(model, tokenizer, PROMPTS, batch_size=3)["0.5"]
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))  # LoRA B = 0: a no-op
    np.testing.assert_allclose(activations(wrapped, tokenizer, PROMPTS, batch_size=3)["0.5"], base, atol=1e-6)
