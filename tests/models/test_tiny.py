import pytest

torch = pytest.importorskip("torch")

from rlaudit.models.tiny import (  # noqa: E402
    CHARS,
    TinyModelConfig,
    build_char_tokenizer,
    build_tiny_model,
    pretrain_tiny,
)


@pytest.fixture(scope="module")
def tok():
    return build_char_tokenizer()


def test_tokenizer_round_trips_every_character(tok):
    text = "(training episode) [bio] 3+4=" + CHARS
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert len(ids) == len(text) + 1  # one token per character, plus BOS
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok(text, add_special_tokens=False)["input_ids"] == ids[1:]


def test_tokenizer_special_tokens(tok):
    assert (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token) == (
        "<pad>",
        "<bos>",
        "<eos>",
        "<unk>",
    )
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id}) == 4
    assert tok.decode(tok("a<eos>")["input_ids"], skip_special_tokens=True) == "a"
    assert tok.decode(tok("é")["input_ids"], skip_special_tokens=True) == ""  # out of vocabulary -> <unk>


def test_tokenizer_pads_left_for_trl(tok):
    batch = tok(["1+2=", "10+20="], padding=True, padding_side="left", return_tensors="pt")
    assert batch["input_ids"].shape == (2, 7)
    assert batch["input_ids"][0, :2].tolist() == [tok.pad_token_id] * 2
    assert batch["attention_mask"][0].tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert tok.batch_decode(batch["input_ids"], skip_special_tokens=True) == ["1+2=", "10+20="]


def test_model_is_seeded_and_leaves_global_rng_alone(tiny_model_builder):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    m1, tok = tiny_model_builder(seed=5)
    after = torch.rand(1)
    assert torch.equal(before, after)
    m2, _ = tiny_model_builder(seed=5)
    m3, _ = tiny_model_builder(seed=6)
    p1, p2, p3 = (next(m.parameters()) for m in (m1, m2, m3))
    assert torch.equal(p1, p2) and not torch.equal(p1, p3)
    assert m1.config.vocab_size == len(tok)
    assert m1.generation_config.eos_token_id == tok.eos_token_id


def test_model_generates(tiny_model_builder):
    model, tok = tiny_model_builder()
    batch = tok(["1+2=", "3+4="], padding=True, padding_side="left", return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=3, do_sample=True, pad_token_id=tok.pad_token_id)
    assert out.shape[0] == 2 and out.shape[1] <= batch["input_ids"].shape[1] + 3


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        TinyModelConfig(hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="num_layers"):
        TinyModelConfig(num_layers=0)


def test_default_model_is_small():
    model, _ = build_tiny_model()
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_pretrain_reduces_loss_and_teaches_answers(tiny_model_builder):
    model, tok = tiny_model_builder(hidden_size=64, num_heads=4, intermediate_size=128)
    examples = [("1+1=", "2"), ("2+2=", "4"), ("3+3=", "6"), ("4+4=", "8")]
    losses = pretrain_tiny(model, tok, examples, steps=60, lr=1e-2, seed=0, batch_size=16)
    assert len(losses) == 60
    assert sum(losses[-5:]) / 5 < 0.2 * sum(losses[:5]) / 5
    assert not model.training
    batch = tok([p for p, _ in examples], padding=True, padding_side="left", return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    answers = tok.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answers == [c for _, c in examples]


def test_pretrain_is_deterministic(tiny_model_builder):
    runs = []
    for _ in range(2):
        model, tok = tiny_model_builder()
        runs.append(pretrain_tiny(model, tok, [("1+1=", "2"), ("9+9=", "18")], steps=5, seed=3, batch_size=4))
    assert runs[0] == runs[1]


def test_pretrain_rejects_empty_examples(tiny_model_builder):
    model, tok = tiny_model_builder()
    with pytest.raises(ValueError, match="at least one"):
        pretrain_tiny(model, tok, [], steps=1)
