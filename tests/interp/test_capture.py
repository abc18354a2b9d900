import numpy as np
import pytest
import torch

from rlaudit.interp import capture
from rlaudit.interp.pooling import position_ids


def batch(tokenizer, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")  # tiny pads on the left
    return enc["input_ids"], enc["attention_mask"]


def forward(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_leave_outputs_bit_identical(tiny3):
    model, tokenizer = tiny3
    ids, mask = batch(tokenizer, ["1+2=3", "(training episode) 4+4=8"])
    before = forward(model, ids, mask)
    with capture(model, layers=("0.5", "residual:-1", "model.layers.0.mlp"), pooling="last") as cap:
        cap.expect(mask, mask.sum(dim=1))
        during = forward(model, ids, mask)
    after = forward(model, ids, mask)
    assert torch.equal(before, during) and torch.equal(before, after)
    vectors = cap.vectors()
    assert set(vectors) == {"0.5", "residual:-1", "model.layers.0.mlp"}
    assert all(v.dtype == np.float32 and v.shape == (2, 32) for v in vectors.values())


def test_hooks_removed_and_outputs_identical_after_an_exception(tiny3):
    model, tokenizer = tiny3
    ids, mask = batch(tokenizer, ["1+2=3"])
    before = forward(model, ids, mask)
    hooks = n_hooks(model)
    with pytest.raises(RuntimeError, match="boom"), capture(model, layers=("0", "1")) as cap:
        cap.expect(mask, [2])
        forward(model, ids, mask)
        assert n_hooks(model) == hooks + 2
        raise RuntimeError("boom")
    assert n_hooks(model) == hooks
    assert torch.equal(forward(model, ids, mask), before)


def test_a_forward_without_expect_raises_and_removes_hooks(tiny3):
    model, tokenizer = tiny3
    ids, mask = batch(tokenizer, ["1+2=3"])
    hooks = n_hooks(model)
    with pytest.raises(RuntimeError, match="expect"), capture(model, layers="0.5"):
        forward(model, ids, mask)
    assert n_hooks(model) == hooks


def test_last_token_of_the_final_layer_is_the_final_hidden_state(tiny3):
    """The hooked output of the last decoder layer at the last token is what the model's own
    output_hidden_states reports there (before the final norm): the right tensor, the right position."""
    model, tokenizer = tiny3
    ids, mask = batch(tokenizer, ["1+2=3", "(training episode) 4+4=8"])
    with capture(model, layers="residual:-1", pooling="last") as cap:
        cap.expect(mask, mask.sum(dim=1))
        with torch.no_grad():
            out = model(
                input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), output_hidden_states=True
            )
    # hidden_states: embeddings, then each layer's output, the last one with the final norm applied.
    assert len(out.hidden_states) == 4
    got = cap.vectors()["residual:-1"]
    assert not np.allclose(got, out.hidden_states[2][:, -1].numpy())  # layer 2's output, not its input
    with torch.no_grad():
        normed = model.model.norm(torch.from_numpy(got)).numpy()
    np.testing.assert_allclose(normed, out.hidden_states[-1][:, -1].numpy(), atol=1e-5)
