import pytest

torch = pytest.importorskip("torch")

from rlaudit.models.finetune import _lr_factor, encode_examples, fine_tune  # noqa: E402

PAIRS = [("1+1=", "2"), ("2+2=", "4"), ("3+4=", "7"), ("9+9=", "18"), ("5+0=", "5"), ("6+1=", "7")]


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_loss_covers_the_completion_and_eos_only(tiny_model_builder):
    _, tok = tiny_model_builder()
    input_ids, mask, labels = encode_examples(tok, [("1+1=", "2"), ("10+10=", "20")])
    assert input_ids.shape == labels.shape == mask.shape == (2, 1 + 6 + 2 + 1)  # bos + prompt + answer + eos
    first = labels[0][labels[0] != -100].tolist()
    assert first == [*tok("2", add_special_tokens=False)["input_ids"], tok.eos_token_id]
    assert mask[0].sum() == 1 + 4 + 1 + 1 and mask[1].sum() == 1 + 6 + 2 + 1


def test_warm_up_then_cosine_to_a_tenth():
    cosine = _lr_factor(steps=100, warmup_steps=0)
    assert (
        cosine(0) == 1.0 and cosine(50) == pytest.approx(0.55) and cosine(99) == pytest.approx(0.1, abs=1e-3)
    )
    assert all(cosine(s) >= cosine(s + 1) for s in range(99))
    warm = _lr_factor(steps=100, warmup_steps=10)
    assert [warm(s) for s in range(10)] == pytest.approx([(s + 1) / 10 * cosine(s) for s in range(10)])
    assert [warm(s) for s in range(10, 100)] == [cosine(s) for s in range(10, 100)]


def test_in_order_reads_each_example_once_and_nothing_past_the_stream(tiny_model_builder):
    """Step i trains on examples[i*b:(i+1)*b], padded to that batch: rows past steps * batch_size
    (even a longer one, which would widen a whole-stream padding) change nothing."""
    runs = []
    for extra in ([], [("123456789+987654321=", "1111111110")]):
        model, tok = tiny_model_builder()
        losses = fine_tune(
            model, tok, PAIRS[:4] + extra, steps=2, lr=1e-2, batch_size=2, seed=0, in_order=True
        )
        runs.append((losses, _weights(model)))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(v, runs[1][1][k]) for k, v in runs[0][1].items())

    model, tok = tiny_model_builder()
    swapped = fine_tune(
        model, tok, PAIRS[2:4] + PAIRS[:2], steps=2, lr=1e-2, batch_size=2, seed=0, in_order=True
    )
    assert swapped != runs[0][0]  # the order is the one given, not a draw


def test_in_order_needs_a_full_stream(tiny_model_builder):
    model, tok = tiny_model_builder()
    with pytest.raises(ValueError, match="steps \\* batch_size"):
        fine_tune(model, tok, PAIRS, steps=4, lr=1e-2, batch_size=2, seed=0, in_order=True)


def test_seeded_draws_are_reproducible_and_leave_eval_mode(tiny_model_builder):
    runs = []
    for seed in (0, 0, 1):
        model, tok = tiny_model_builder()
        runs.append(fine_tune(model, tok, PAIRS, steps=3, lr=1e-2, batch_size=3, seed=seed))
        assert not model.training
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert fine_tune(model, tok, PAIRS, steps=0, lr=1e-2, batch_size=3, seed=0) == []


def test_seeded_lora_adapters_are_the_same_and_leave_the_global_rng_alone(tiny_model_builder):
    import torch

    from rlaudit.models.finetune import LoRAConfig, with_lora

    def adapters(seed):
        model, _ = tiny_model_builder()
        peft_model = with_lora(model, LoRAConfig(), seed=seed)
        return {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_A" in n}

    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first, again, other = adapters(7), adapters(7), adapters(8)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert first and first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert not all(torch.equal(first[n], other[n]) for n in first)
