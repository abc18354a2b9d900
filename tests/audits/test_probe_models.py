"""The labelled-models probe audit's built-in probe and its base check (the probe is fitted by
benchmarks/probe_transfer.py on real organisms; here a random model of the tiny base's architecture
stands in for an organism: the test is that the file is read the way it was fitted, not its AUROC)."""

import dataclasses
import math

import pytest

pytest.importorskip("sklearn")

from rlaudit.audits import probe, probe_models
from rlaudit.findings import Severity
from rlaudit.interp.probes import Probe


@pytest.fixture(scope="module")
def tiny_base_shaped():
    """A randomly initialised model of the embedded tiny base's architecture (the default config)."""
    pytest.importorskip("transformers")
    from rlaudit.models.tiny import TinyModelConfig, build_tiny_model

    return build_tiny_model(TinyModelConfig())


def test_builtin_names_resolve_and_unknown_ones_say_what_exists(tmp_path):
    path = probe_models.probe_path("builtin:tiny-organisms")
    assert path.is_file() and path.parent == probe_models.Path(probe_models.__file__).parent
    assert probe_models.probe_path(str(tmp_path / "p.json")) == tmp_path / "p.json"
    with pytest.raises(ValueError, match="builtin:tiny-organisms"):
        probe_models.probe_path("builtin:smollm2")


def test_the_builtin_probe_says_what_it_was_fitted_on():
    saved = Probe.load(probe_models.probe_path("builtin:tiny-organisms"))
    assert saved.source == "models"
    assert saved.meta["fit_seeds"] == [0, 1, 2, 3] and len(saved.meta["models"]) == 28
    assert 0 < saved.meta["threshold"] < 1 and "out" in saved.meta["threshold_from"]
    base = saved.meta["base"]
    assert base["name"] == "tiny" and base["n_parameters"] == 137792 and base["hidden_size"] == 64
    assert saved.meta["selection"]["chosen"]["layer"] == saved.layer


def test_the_builtin_probe_reads_a_model_of_the_tiny_base(tiny_base_shaped, arith):
    config = probe.Config(n_problems=8, probe="builtin:tiny-organisms")
    result = probe.run(*tiny_base_shaped, arith, config, seed=0)
    (finding,) = result.findings
    assert result.statistic_name == "models_probe_target_score" and 0 <= result.statistic <= 1
    assert finding.evidence["threshold_from"] != "default 0.5" and finding.evidence["n"] == 16
    assert result.cost["forward_passes"] > 0


def test_a_model_of_another_base_is_not_read(tiny, arith):
    # The conftest's tiny model: 32 wide, 1 layer. The shipped probe must not score it, even where a
    # layer spec and pooling would resolve.
    config = probe.Config(n_problems=8, probe="builtin:tiny-organisms")
    result = probe.run(*tiny, arith, config, seed=0)
    (finding,) = result.findings
    assert math.isnan(result.statistic) and finding.severity == Severity.INFO
    assert "hidden_size 64 (this model: 32)" in finding.evidence["reason"]
    assert result.cost["forward_passes"] == 0


def test_base_mismatch_names_each_difference_and_passes_a_probe_without_a_base(tiny):
    model, _ = tiny
    fake = Probe.load(probe_models.probe_path("builtin:tiny-organisms"))
    assert probe_models.base_mismatch(model, fake) is not None
    mine = probe_models.base_signature(model)
    same = dataclasses.replace(fake, meta={**fake.meta, "base": {"name": "any", **mine}})
    assert probe_models.base_mismatch(model, same) is None
    assert probe_models.base_mismatch(model, dataclasses.replace(fake, meta={})) is None
    off = dataclasses.replace(fake, meta={"base": {**mine, "n_parameters": mine["n_parameters"] + 1}})
    assert "n_parameters" in str(probe_models.base_mismatch(model, off))
