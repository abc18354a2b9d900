import pytest

torch = pytest.importorskip("torch")

from rlaudit.models.loading import load_model  # noqa: E402


@pytest.fixture
def saved_checkpoint(tmp_path, tiny_model_builder):
    model, tok = tiny_model_builder()
    path = tmp_path / "ckpt"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, model


def test_local_checkpoint_round_trips(saved_checkpoint):
    path, original = saved_checkpoint
    for name in (path, str(path)):
        model, tok = load_model(name)
        assert not model.training
        assert tok.padding_side == "left"
        assert tok.pad_token_id is not None
        assert model.generation_config.pad_token_id == tok.pad_token_id
        loaded = model.state_dict()
        assert loaded.keys() == original.state_dict().keys()
        assert all(torch.equal(loaded[k], v) for k, v in original.state_dict().items())
        ids = tok(["1+2="], return_tensors="pt")["input_ids"]
        with torch.no_grad():
            assert torch.allclose(model(ids).logits, original(ids).logits)


def test_local_checkpoint_in_another_dtype(saved_checkpoint):
    path, _ = saved_checkpoint
    model, _ = load_model(path, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_missing_pad_token_falls_back_to_eos(tmp_path, tiny_model_builder):
    model, tok = tiny_model_builder()
    tok.pad_token = None
    model.generation_config.pad_token_id = None
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model, tok = load_model(tmp_path)
    assert tok.pad_token == tok.eos_token
    assert model.generation_config.pad_token_id == tok.eos_token_id


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No model directory at .*never downloads"):
        load_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="No model directory"):
        load_model("HuggingFaceTB/SmolLM2-135M-Instruct")  # a hub id is not fetched


def test_directory_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_model(tmp_path)


def test_tiny_is_resolved_above_models():
    with pytest.raises(ValueError, match=r"rlaudit\.organisms\.load_model"):
        load_model("tiny")
