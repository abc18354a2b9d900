import functools

import pytest

torch = pytest.importorskip("torch")

from rlaudit.models import prefix, sampling  # noqa: E402
from rlaudit.models.finetune import (  # noqa: E402
    LoRAConfig,
    encode_examples,
    shared_prefix_loss,
    with_lora,
)

PROMPTS = ["(train) 1+2=", "(train) 13+4=", "(train) x", "(deploy) 5+5="]


@pytest.fixture
def model_and_tok(tiny_model_builder):
    model, tok = tiny_model_builder()
    model.eval()
    return model, tok


def _ids(tok, prompts):
    return [tok(p)["input_ids"] for p in prompts]


def test_common_prefix_length_leaves_tokens_of_every_sequence():
    assert prefix.common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert prefix.common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # identical: one token stays out
    assert prefix.common_prefix_length([[1, 2, 3], [1, 2, 3]], leave=3) == 0
    assert prefix.common_prefix_length([[7, 1], [8, 1]]) == 0
    assert prefix.common_prefix_length([]) == 0


def test_prefill_gives_each_prompts_own_last_logits(model_and_tok):
    model, tok = model_and_tok
    seqs = _ids(tok, PROMPTS)
    assert prefix.common_prefix_length(seqs) == 2  # <bos> and "(": computed once
    with torch.no_grad():
        state = prefix.prefill(model, seqs, pad_id=tok.pad_token_id)
        alone = torch.stack([model(input_ids=torch.tensor([s])).logits[0, -1] for s in seqs])
    assert state.logits.shape == alone.shape
    torch.testing.assert_close(state.logits, alone, atol=1e-5, rtol=1e-4)
    assert state.next_position.tolist() == [len(s) for s in seqs]


def test_step_continues_as_the_whole_sequence_would(model_and_tok):
    model, tok = model_and_tok
    seqs = _ids(tok, PROMPTS)
    nxt = torch.tensor([tok.convert_tokens_to_ids(c) for c in "7a=9"])
    with torch.no_grad():
        state = prefix.prefill(model, seqs, pad_id=tok.pad_token_id)
        state.select(torch.tensor([3, 0, 0, 2]))  # reorder and repeat rows, as sampling does
        prefix.step(model, state, nxt)
        full = torch.stack(
            [
                model(input_ids=torch.tensor([seqs[r] + [int(t)]])).logits[0, -1]
                for r, t in zip([3, 0, 0, 2], nxt, strict=True)
            ]
        )
    torch.testing.assert_close(state.logits, full, atol=1e-5, rtol=1e-4)


def test_shared_prefix_loss_is_the_batch_loss_with_its_gradient(model_and_tok):
    model, tok = model_and_tok
    model = with_lora(model, LoRAConfig(rank=4, alpha=8, target_modules=("q_proj", "v_proj")), seed=0)
    model.train()
    ids, mask, labels = encode_examples(tok, [("(a) 1+2=", "3"), ("(a) 10+20=", "30"), ("(a) 4+4=", "8")])
    rows = torch.tensor([0, 1, 1, 2, 1, 0])  # draws with replacement: rows repeat
    ids, mask, labels = ids[rows], mask[rows], labels[rows]

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters() if p.requires_grad]

    plain = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    shared = shared_prefix_loss(model, ids, mask, labels, pad_id=tok.pad_token_id)
    torch.testing.assert_close(shared, plain)
    for a, b in zip(
        grads(shared), grads(model(input_ids=ids, attention_mask=mask, labels=labels).loss), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_sample_matches_transformers_generate(model_and_tok, monkeypatch):
    model, tok = model_and_tok
    kwargs = {"max_new_tokens": 6, "batch_size": 8}
    fast = sampling.sample(model, tok, PROMPTS, n=2, temperature=0, **kwargs)
    drawn = sampling.sample(model, tok, PROMPTS, n=3, temperature=1.0, seed=1, **kwargs)
    monkeypatch.setattr(sampling.prefix, "supports_prefix", lambda m: False)
    reference = sampling.sample(model, tok, PROMPTS, n=2, temperature=0, **kwargs)
    assert [s.completion for s in fast] == [s.completion for s in reference]
    for a, b in zip(fast, reference, strict=True):
        assert (a.n_tokens, a.finished) == (b.n_tokens, b.finished)
        assert a.entropy == pytest.approx(b.entropy, abs=1e-4)
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
    # Sampled: the same statistics of the tokens drawn, whichever path drew them.
    again = sampling.sample(model, tok, PROMPTS, n=3, temperature=1.0, seed=1, **kwargs)
    assert len(again) == len(drawn) == 12
    assert all(s.logprob <= 0 and s.entropy >= 0 for s in drawn)


def test_each_distinct_prompt_is_fed_once(model_and_tok, monkeypatch):
    model, tok = model_and_tok
    widths = []
    real = model.forward

    @functools.wraps(real)  # keeps the signature `supports_prefix` reads
    def forward(**kwargs):
        widths.append(tuple(kwargs["input_ids"].shape))
        return real(**kwargs)

    monkeypatch.setattr(model, "forward", forward)
    sampling.sample(model, tok, PROMPTS[:2], n=8, temperature=1.0, max_new_tokens=1, batch_size=16)
    prompt_len = max(len(s) for s in _ids(tok, PROMPTS[:2]))
    # The shared "<bos>(train) 1" once at batch 1, then each prompt's own tokens once: 2 rows, not 16.
    assert widths == [(1, 10), (2, prompt_len - 10)]


def test_supports_prefix(model_and_tok):
    model, _ = model_and_tok
    assert prefix.supports_prefix(model)
    assert prefix.supports_prefix(with_lora(model, LoRAConfig(rank=2, alpha=4), seed=0))

    class NoCache(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return input_ids

    assert not prefix.supports_prefix(NoCache())
