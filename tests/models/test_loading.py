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


def test_device_and_dtype_by_name(saved_checkpoint):
    path, _ = saved_checkpoint
    model, _ = load_model(path, device="cpu", dtype="bf16")
    assert model.device == torch.device("cpu")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    auto, _ = load_model(path, device="cpu")  # auto on the CPU: float32, as before
    assert {p.dtype for p in auto.parameters()} == {torch.float32}
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model(path, dtype="int4")
    with pytest.raises(ValueError, match="unknown device"):
        load_model(path, device="tpu")


def test_bfloat16_on_the_cpu_samples(saved_checkpoint):
    from rlaudit.models.sampling import sample

    path, _ = saved_checkpoint
    model, tok = load_model(path, device="cpu", dtype="bfloat16")
    out = sample(model, tok, ["1+2=", "a longer one: 3+4="], n=2, max_new_tokens=4, batch_size=4)
    assert [s.prompt_index for s in out] == [0, 0, 1, 1]
    assert all(1 <= s.n_tokens <= 4 and s.logprob <= 0 for s in out)


def test_safe_and_local_loading_only(saved_checkpoint, monkeypatch):
    import transformers

    path, _ = saved_checkpoint
    seen = []
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    load_model(path)
    load_model(path, trust_remote_code=True)
    assert [(k["use_safetensors"], k["local_files_only"], k["trust_remote_code"]) for k in seen] == [
        (True, True, False),
        (True, True, True),
    ]


def test_pickled_weights_only_is_a_clear_error(tmp_path, tiny_model_builder):
    model, tok = tiny_model_builder()
    model.config.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(
        ValueError,
        match=r"only pickled weights \(pytorch_model\.bin\); rlaudit loads safetensors only.*save_pretrained\(path, safe_serialization=True\)",
    ):
        load_model(tmp_path)


@pytest.fixture
def lora_adapter(tmp_path, saved_checkpoint):
    """``(adapter_dir, merged, base)``: a LoRA adapter saved from the tiny checkpoint, its weights
    perturbed (fresh LoRA is a no-op), the same adapter merged by hand, and the plain base."""
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    base_dir, _ = saved_checkpoint
    base = AutoModelForCausalLM.from_pretrained(base_dir)  # name_or_path: base_dir, what peft records
    wrapped = peft.get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0),
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    adapter_dir = tmp_path / "adapter"
    wrapped.save_pretrained(adapter_dir)
    merged = wrapped.merge_and_unload()
    return adapter_dir, merged, base


def _logits(model, tok):
    ids = tok(["1+2=", "7+8="], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(ids).logits


def test_a_lora_adapter_loads_merged_onto_its_local_base(lora_adapter, saved_checkpoint):
    import json

    adapter_dir, merged, base = lora_adapter
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(saved_checkpoint[0])
    assert not (adapter_dir / "config.json").exists()
    model, tok = load_model(adapter_dir, device="cpu")
    assert not any("lora_" in name for name, _ in model.named_parameters())  # merged and unloaded
    assert tok.padding_side == "left" and not model.training
    assert torch.allclose(_logits(model, tok), _logits(merged, tok), atol=1e-5)
    assert not torch.allclose(_logits(model, tok), _logits(base, tok), atol=1e-2)


def test_an_adapters_own_tokenizer_wins(lora_adapter):
    adapter_dir, _, _ = lora_adapter
    _, base_tok = load_model(adapter_dir)
    base_tok.model_max_length = 123
    base_tok.save_pretrained(adapter_dir)
    _, tok = load_model(adapter_dir)
    assert tok.model_max_length == 123 and base_tok.model_max_length == 123


def test_an_adapter_base_relative_to_the_adapter_folder(lora_adapter, saved_checkpoint):
    import json

    adapter_dir, merged, _ = lora_adapter
    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = "../ckpt"  # beside the adapter, whatever the cwd
    path.write_text(json.dumps(config))
    model, tok = load_model(adapter_dir)
    assert torch.allclose(_logits(model, tok), _logits(merged, tok), atol=1e-5)


def test_an_adapter_on_a_hub_base_is_a_clear_error(lora_adapter):
    import json

    adapter_dir, _, _ = lora_adapter
    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = "Qwen/Qwen2.5-7B-Instruct"
    path.write_text(json.dumps(config))
    with pytest.raises(
        FileNotFoundError,
        match=r"'Qwen/Qwen2\.5-7B-Instruct' .*is not a local directory; the base must be local",
    ):
        load_model(adapter_dir)
    config["base_model_name_or_path"] = None
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="names no base_model_name_or_path"):
        load_model(adapter_dir)


def test_an_adapter_with_pickled_weights_only_is_a_clear_error(lora_adapter):
    adapter_dir, _, _ = lora_adapter
    (adapter_dir / "adapter_model.safetensors").rename(adapter_dir / "adapter_model.bin")
    with pytest.raises(ValueError, match="rlaudit loads safetensors only"):
        load_model(adapter_dir)


def test_organisms_load_model_passes_the_options_through(saved_checkpoint, monkeypatch, tiny_model_builder):
    """`rlaudit.organisms.load_model` / `base_loader` (the layer that adds ``tiny``) hand device, dtype
    and trust_remote_code to this one, and move the tiny base themselves."""
    from rlaudit.organisms import bases

    path, _ = saved_checkpoint
    model, _ = bases.load_model(path, device="cpu", dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    seen = []
    monkeypatch.setattr(bases, "load_checkpoint", lambda p, **kw: seen.append(kw))
    bases.load_model(path, trust_remote_code=True)
    bases.base_loader(path)()
    bases.base_loader(path, device="cpu", dtype="bf16", trust_remote_code=True)()
    assert seen == [
        {"device": "auto", "dtype": "auto", "trust_remote_code": True},
        {"device": "cpu", "dtype": torch.float32, "trust_remote_code": False},  # builds train on the CPU
        {"device": "cpu", "dtype": "bf16", "trust_remote_code": True},
    ]
    monkeypatch.setattr(bases, "load_tiny", lambda **_: tiny_model_builder())
    tiny, _ = bases.load_model("tiny", device="cpu", dtype="float16")
    assert tiny.dtype == torch.float16 and tiny.device == torch.device("cpu")
