import numpy as np
import pytest

from rlaudit.interp.files import activations_path, load_activations, save_activations


@pytest.mark.parametrize("fmt", ["parquet", "safetensors"])
def test_round_trip(tmp_path, fmt):
    rng = np.random.default_rng(0)
    vectors = {"0.5": rng.normal(size=(4, 8)).astype(np.float32), "residual:-1": rng.normal(size=(4, 3))}
    path = activations_path(tmp_path / "store", "step-10", fmt)
    assert path == tmp_path / "store" / "activations" / f"step-10.{fmt}"
    save_activations(path, ["a", "b", "c", "d"], vectors, pooling="last", metadata={"model": "tiny"})
    ids, got, meta = load_activations(path)
    assert ids == ["a", "b", "c", "d"]
    assert meta == {"pooling": "last", "model": "tiny"}
    for spec, v in vectors.items():
        assert got[spec].dtype == np.float32
        np.testing.assert_array_equal(got[spec], v.astype(np.float32))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    assert b"pickle" not in path.read_bytes()


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden"])
def test_names_are_plain_file_names(tmp_path, name):
    with pytest.raises(ValueError, match="activation file name"):
        activations_path(tmp_path, name)


def test_bad_shapes_and_ids(tmp_path):
    v = {"0.5": np.zeros((2, 3), np.float32)}
    with pytest.raises(ValueError, match="unique"):
        save_activations(tmp_path / "a.parquet", ["x", "x"], v, pooling="last")
    with pytest.raises(ValueError, match=r"\(3, hidden\)"):
        save_activations(tmp_path / "a.parquet", ["x", "y", "z"], v, pooling="last")
    with pytest.raises(ValueError, match=r"parquet or \.safetensors"):
        save_activations(tmp_path / "a.pkl", ["x", "y"], v, pooling="last")
    assert not list(tmp_path.iterdir())
