import json
import time

import pytest

torch = pytest.importorskip("torch")

from rlaudit.models.tiny import TinyModelConfig  # noqa: E402
from rlaudit.organisms import bases  # noqa: E402
from rlaudit.organisms.bases import (  # noqa: E402
    MANIFEST,
    TinyBaseConfig,
    base_loader,
    load_model,
    load_tiny,
    tiny_base_dir,
    train_tiny_base,
)
from rlaudit.tasks import CONDITIONS, SPLITS  # noqa: E402


def small(**overrides) -> TinyBaseConfig:
    """A base that trains in well under a second: not a good model, a real one."""
    model = TinyModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return TinyBaseConfig(
        **{"model": model, "steps": 15, "batch_size": 16, "eval_prompts": 8, "min_accuracy": 0, **overrides}
    )


def test_first_call_trains_and_caches_later_calls_load(tmp_path, monkeypatch):
    config = small()
    model, tokenizer = load_tiny(tmp_path, config, progress=False)
    path = tiny_base_dir(tmp_path, config)
    assert path.parent == tmp_path / "models" and path.name.startswith("tiny-base-")
    assert {"config.json", "model.safetensors", "tokenizer.json", MANIFEST} <= {
        p.name for p in path.iterdir()
    }
    assert [p.name for p in (tmp_path / "models").iterdir()] == [path.name]  # no temporary left behind

    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["kind"] == "tiny-base" and manifest["key"] == path.name
    assert manifest["config"]["steps"] == 15 and manifest["config"]["seed"] == 0
    assert manifest["config"]["model"]["hidden_size"] == 32
    for task in ("arith", "mcq"):
        assert set(manifest["accuracy"][task]) == set(SPLITS)
        for s in SPLITS:
            assert set(manifest["accuracy"][task][s]) == set(CONDITIONS)
            assert all(0.0 <= a <= 1.0 for a in manifest["accuracy"][task][s].values())
    assert manifest["training"]["seconds"] > 0 and manifest["rlaudit_version"]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached base must not be retrained")

    monkeypatch.setattr(bases, "train_tiny_base", no_training)
    start = time.perf_counter()
    again, tok2 = load_tiny(tmp_path, config, progress=False)
    assert time.perf_counter() - start < 1.0
    assert not again.training and tok2.padding_side == "left"
    for name, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[name])
    assert tok2("1+2? A)1 ->")["input_ids"] == tokenizer("1+2? A)1 ->")["input_ids"]


def test_training_is_deterministic_and_leaves_threads_alone():
    threads = torch.get_num_threads()
    first, _, m1 = train_tiny_base(small(threads=1), progress=False)
    second, _, m2 = train_tiny_base(small(threads=1), progress=False)
    assert torch.get_num_threads() == threads
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())
    assert m1["accuracy"] == m2["accuracy"] and m1["training"]["final_loss"] == m2["training"]["final_loss"]
    third, _, _ = train_tiny_base(small(seed=1), progress=False)
    assert not all(torch.equal(v, third.state_dict()[k]) for k, v in first.state_dict().items())


def test_cache_key_follows_the_recipe(tmp_path):
    base = tiny_base_dir(tmp_path, small())
    assert tiny_base_dir(tmp_path, small()) == base
    assert tiny_base_dir(tmp_path, small(steps=16)) != base
    assert tiny_base_dir(tmp_path, small(seed=1)) != base
    assert tiny_base_dir(tmp_path, small(min_accuracy=0.5)) == base  # only a warning threshold
    assert tiny_base_dir(tmp_path) != base  # the default recipe


def test_cache_dir_defaults_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLAUDIT_CACHE", str(tmp_path / "mine"))
    assert tiny_base_dir(config=small()).parent == tmp_path / "mine" / "models"
    monkeypatch.delenv("RLAUDIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tiny_base_dir(config=small()).parent == tmp_path / "xdg" / "rlaudit" / "models"


def test_failed_training_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(bases, "train_tiny_base", broken)
    with pytest.raises(RuntimeError, match="boom"):
        load_tiny(tmp_path, small(), progress=False)
    assert list((tmp_path / "models").iterdir()) == []


def test_low_accuracy_warns():
    with pytest.warns(UserWarning, match="greedy accuracy"):
        train_tiny_base(small(steps=2, min_accuracy=0.95), progress=False)


@pytest.mark.parametrize("bad", [{"steps": 0}, {"threads": 0}, {"mcq_fraction": 1.5}, {"lr": 0.0}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        small(**bad)


def test_tiny_by_name(monkeypatch, tiny_model_builder):
    # The real base trains on first use (~80 s: the slow test below); here, only the dispatch.
    built = []
    monkeypatch.setattr(bases, "load_tiny", lambda **_: built.append(tiny_model_builder()) or built[-1])
    model, tok = load_model("tiny", dtype=torch.bfloat16)
    assert built and model is built[0][0]
    assert tok.padding_side == "left" and not model.training
    assert model.dtype == torch.bfloat16 and model.generation_config.pad_token_id == tok.pad_token_id
    fresh = base_loader("tiny")
    assert fresh()[0] is not fresh()[0]  # a recipe that needs two copies gets two


def test_other_names_go_to_the_models_layer(tmp_path, tiny_model_builder):
    model, tok = tiny_model_builder()
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    loaded, _ = load_model(tmp_path / "ckpt")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert base_loader(tmp_path / "ckpt")()[0].config.vocab_size == model.config.vocab_size
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope")
    with pytest.raises(ValueError, match="unknown base"):
        base_loader(tmp_path / "nope")


@pytest.mark.slow
def test_default_base_is_accurate_on_every_task_split_and_cue(tmp_path):
    """The real recipe (~80 s on one core): >= 95% greedy on held-out arith and mcq in every cell."""
    load_tiny(tmp_path, progress=False)
    manifest = json.loads((tiny_base_dir(tmp_path) / MANIFEST).read_text())
    for task in ("arith", "mcq"):
        for s in SPLITS:
            for c in CONDITIONS:
                assert manifest["accuracy"][task][s][c] >= 0.95, (task, s, c, manifest["accuracy"])
