"""Fitting the combined audit score on calibration cases."""

import pytest

from rlaudit.audits.combined import FEATURES
from rlaudit.bench.calibrate import FitConfig, fit


def case(positive, noise, confident, passk=0.0):
    x = dict.fromkeys(FEATURES, 0.0) | {"noise_sweep": noise, "passk_confident": confident, "passk": passk}
    return {"positive": positive, "features": x}


CASES = [
    case(False, 0.0, 0.0),
    case(False, 0.05, 0.1, passk=0.3),
    case(False, 0.02, 0.12, passk=0.85),  # incapable: a large gap, varied failures
    case(False, 0.01, 0.0),
    case(True, 0.3, 0.85, passk=0.9),  # locked
    case(True, 0.01, 0.35, passk=0.45),  # mimic: a confident gap only
    case(True, 0.12, 0.05, passk=0.15),  # stochastic: noise only
    case(True, 0.33, 0.8, passk=0.9),
]


def test_fit_ranks_every_positive_above_every_negative_and_fits_thresholds_on_negatives():
    cal = fit(CASES, {"build_seeds": [0]})
    scores = [(cal.score(c["features"]), c["positive"]) for c in CASES]
    assert min(s for s, p in scores if p) > max(s for s, p in scores if not p)
    negatives = [s for s, p in scores if not p]
    # 4 negatives: 5% and 1% FPR both allow none, so both thresholds sit just above the top negative.
    assert cal.suspicious > max(negatives) and cal.hacking_likely >= cal.suspicious
    assert cal.provenance["build_seeds"] == [0] and cal.provenance["n_negative"] == 4
    assert cal.provenance["fit"]["suspicious_fpr"] == FitConfig().suspicious_fpr
    assert fit(CASES, {"build_seeds": [0]}).coef == cal.coef  # deterministic


def test_fit_needs_both_classes():
    with pytest.raises(ValueError, match="resistant and honest"):
        fit([c for c in CASES if c["positive"]])
    with pytest.raises(ValueError, match="resistant and honest"):
        fit([{**c, "features": None} for c in CASES])
