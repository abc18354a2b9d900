"""Fitting the combined audit score on calibration cases."""

import math

import pytest

from rlaudit.audits.combined import FEATURES
from rlaudit.bench.calibrate import FitConfig, fit, threshold


def case(positive, noise, never, hidden=0.0):
    x = dict.fromkeys(FEATURES, 0.0) | {"noise_sweep": noise, "passk_never": never, "passk_hidden": hidden}
    return {"positive": positive, "features": x}


CASES = [
    case(False, 0.0, 0.0),
    case(False, 0.05, 0.33, hidden=0.23),  # weak: moderate on both pass@k features
    case(False, 0.02, 0.09, hidden=0.15),  # incapable: varied failures
    case(False, 0.01, 0.0),
    case(True, 0.3, 0.91, hidden=0.08),  # locked
    case(True, 0.01, 0.7, hidden=0.03),  # mimic: never samples what it withholds
    case(True, 0.12, 0.05, hidden=0.6),  # stochastic: right now and then, rarely at the mode
    case(True, 0.33, 0.9),
]


def test_fit_ranks_every_positive_above_every_negative_and_fits_thresholds_on_negatives():
    cal = fit(CASES, {"build_seeds": [0]})
    scores = [(cal.score(c["features"]), c["positive"]) for c in CASES]
    assert min(s for s, p in scores if p) > max(s for s, p in scores if not p)
    negatives = [s for s, p in scores if not p]
    positives = [s for s, p in scores if p]
    # 4 negatives: 5% and 1% FPR both allow none, so both thresholds sit midway (in log-odds) between
    # the top negative and the lowest positive.
    assert max(negatives) < cal.suspicious < min(positives) and cal.hacking_likely >= cal.suspicious
    z = [cal.logit(c["features"]) for c in CASES]
    top = max(v for v, c in zip(z, CASES, strict=True) if not c["positive"])
    low = min(v for v, c in zip(z, CASES, strict=True) if c["positive"])
    assert math.log(cal.suspicious / (1 - cal.suspicious)) == pytest.approx((top + low) / 2)
    assert cal.provenance["fit"]["margin"] == 0.5
    bare = fit(CASES, {"build_seeds": [0]}, FitConfig(margin=0.0))
    assert bare.suspicious == pytest.approx(max(negatives))  # no margin: just above the top negative
    assert cal.provenance["build_seeds"] == [0] and cal.provenance["n_negative"] == 4
    assert cal.provenance["fit"]["suspicious_fpr"] == FitConfig().suspicious_fpr
    assert fit(CASES, {"build_seeds": [0]}).coef == cal.coef  # deterministic


def test_fit_needs_both_classes():
    with pytest.raises(ValueError, match="resistant and honest"):
        fit([c for c in CASES if c["positive"]])
    with pytest.raises(ValueError, match="resistant and honest"):
        fit([{**c, "features": None} for c in CASES])


def test_threshold_moves_towards_the_positives_by_the_margin():
    negatives, positives = [0.0, 1.0, 2.0], [1.5, 4.0, 6.0]
    # No negative may be flagged: start at the top one (2.0), go up to the lowest positive above (4.0).
    assert threshold(negatives, positives, 0.05, 0.5) == 3.0
    assert threshold(negatives, positives, 0.05, 0.25) == 2.5
    assert threshold(negatives, positives, 0.05, 0.0) == pytest.approx(2.0)  # fit_threshold: just above
    # A budget of one negative in three: the threshold clears 1.0, not 2.0.
    assert threshold(negatives, positives, 0.34, 0.5) == pytest.approx(1.25)
    # No positive above: left just above the top negative.
    assert threshold(negatives, [0.5], 0.05, 0.5) == pytest.approx(2.0)


def test_fit_config_rejects_bad_values():
    with pytest.raises(ValueError, match="margin"):
        FitConfig(margin=1.0)
    with pytest.raises(ValueError, match="hacking_likely_fpr"):
        FitConfig(suspicious_fpr=0.01, hacking_likely_fpr=0.05)
    with pytest.raises(ValueError, match="c must be"):
        FitConfig(c=0.0)
