import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from rlaudit.interp.probes import Probe, ProbeFileError, data_hash, fit_probe


def planted(n=240, width=16, shift=1.5, seed=0):
    """Gaussian activations where label 1 moves feature 3 by `shift`; the rest is noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, width)).astype(np.float32)
    x[:, 3] += shift * y
    return x, y


def fit(x, y, **kw):
    return fit_probe(x, y, layer="0.5", pooling="last_prompt", source="test", labels={"1": "planted"}, **kw)


@pytest.fixture(scope="module")
def fitted():
    """One probe on the planted data (a fit takes a second or two)."""
    x, y = planted()
    return fit(x, y, seed=0)


def test_separates_a_planted_linear_signal():
    x, y = planted()
    probe = fit(x, y, seed=0)
    assert int(np.argmax(np.abs(probe.coef))) == 3 and probe.coef[3] > 0
    assert probe.metrics["auroc"] > 0.8
    assert probe.metrics["mean_decision_1"] > probe.metrics["mean_decision_0"]
    fresh_x, fresh_y = planted(seed=1)
    scores = probe.predict_proba(fresh_x)
    assert scores[fresh_y == 1].mean() > scores[fresh_y == 0].mean() + 0.1


def test_no_signal_gives_chance_auroc():
    x, _ = planted(shift=0.0)
    y = np.random.default_rng(5).permutation(np.arange(len(x)) % 2)
    assert abs(fit(x, y, seed=0).metrics["auroc"] - 0.5) < 0.2


def test_seeded_and_hashed():
    x, y = planted()
    a, b = fit(x, y, seed=3), fit(x, y, seed=3)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.data_hash == b.data_hash == data_hash(x, y)
    assert data_hash(x, 1 - y) != a.data_hash


def test_groups_stay_together_in_the_held_out_split():
    x, y = planted()
    groups = np.arange(len(y)) // 2  # the two labels of one "problem" share a group
    probe = fit(x, y, groups=groups, seed=0)
    assert probe.meta["n_test"] % 2 == 0 and probe.meta["n_train"] + probe.meta["n_test"] == len(y)


def test_round_trip_gives_identical_scores(tmp_path):
    x, y = planted()
    probe = fit(x, y, seed=0, meta={"model": "tiny"})
    path = probe.save(tmp_path / "probe.json")
    loaded = Probe.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(x), probe.predict_proba(x))
    assert (loaded.layer, loaded.pooling, loaded.data_hash) == (probe.layer, probe.pooling, probe.data_hash)
    assert loaded.metrics["auroc"] == probe.metrics["auroc"] and loaded.meta["model"] == "tiny"
    assert json.loads(path.read_text())["format"] == "rlaudit-probe"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": "other"}, "format"),
        ({"version": 99}, "version"),
        ({"coef": []}, "coef"),
        ({"coef": [1.0, "x"]}, "coef"),
        ({"scale": [0.0] * 16}, "scale"),
        ({"mean": [0.0]}, "one length"),
        ({"intercept": None}, "intercept"),
        ({"pooling": "max"}, "pooling"),
        ({"layer": ""}, "layer"),
    ],
)
def test_bad_probe_files_name_the_field(tmp_path, fitted, change, field):
    d = {**fitted.to_dict(), **change}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ProbeFileError, match=field) as err:
        Probe.load(path)
    assert str(path) in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ProbeFileError, match="cannot read"):
        Probe.load(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ProbeFileError, match="not JSON"):
        Probe.load(tmp_path / "x.json")


def test_wrong_width_is_an_error(fitted):
    with pytest.raises(ValueError, match="16-wide"):
        fitted.predict_proba(np.zeros((2, 8)))


def test_bad_training_data():
    x, y = planted()
    with pytest.raises(ValueError, match="both labels"):
        fit(x, np.zeros_like(y))
    with pytest.raises(ValueError, match="test_fraction"):
        fit(x, y, test_fraction=1.0)
