import pytest

from rlaudit.interp.layers import decoder_layers, resolve_layer, resolve_layers


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("0.5", "model.layers.1"),
        ("0", "model.layers.0"),
        ("0.0", "model.layers.0"),
        ("1", "model.layers.2"),
        ("1.0", "model.layers.2"),
        ("0.99", "model.layers.2"),
        (".34", "model.layers.1"),
        ("residual:0", "model.layers.0"),
        ("residual:2", "model.layers.2"),
        ("residual:-1", "model.layers.2"),
        ("model.layers.1.mlp", "model.layers.1.mlp"),
        ("model.norm", "model.norm"),
    ],
)
def test_specs_resolve(tiny3, spec, name):
    model, _ = tiny3
    assert resolve_layer(model, spec) == name


def test_middle_of_two_layers_is_the_second(tiny_model_builder):
    model, _ = tiny_model_builder(num_layers=2)
    assert resolve_layer(model, "0.5") == "model.layers.1"
    assert resolve_layer(model, "0.49") == "model.layers.0"


@pytest.mark.parametrize("spec", ["residual:3", "residual:-4", "1.5", "model.nope", "", "layers"])
def test_bad_specs_raise_with_a_hint(tiny3, spec):
    model, _ = tiny3
    with pytest.raises(ValueError, match="layer"):
        resolve_layer(model, spec)


def test_decoder_layers_found_through_peft(tiny3):
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model

    model, _ = tiny3
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    prefix, layers = decoder_layers(wrapped)
    assert prefix == "base_model.model.model.layers" and len(layers) == 3
    assert resolve_layer(wrapped, "0.5") == "base_model.model.model.layers.1"
    assert resolve_layer(wrapped, "residual:-1") == "base_model.model.model.layers.2"


def test_a_model_without_layers_says_so():
    from torch import nn

    with pytest.raises(ValueError, match="no list of decoder layers"):
        resolve_layer(nn.Sequential(nn.Linear(2, 2)), "0.5")


def test_resolve_layers_keeps_order_and_rejects_none(tiny3):
    model, _ = tiny3
    assert list(resolve_layers(model, ["residual:2", "0"])) == ["residual:2", "0"]
    assert resolve_layers(model, "0.5") == {"0.5": "model.layers.1"}
    with pytest.raises(ValueError, match="no layer"):
        resolve_layers(model, [])
