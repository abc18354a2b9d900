"""The benchmark's metrics on hand-computed cases."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from rlaudit.bench.metrics import (
    Scores,
    auroc,
    auroc_ci,
    fit_threshold,
    rates,
    roc_curve,
    score_detector,
    tpr_at_fpr,
)
from rlaudit.jsonsafe import json_safe

NAN = float("nan")


def test_scores_of_splits_by_label_and_drops_nan() -> None:
    s = Scores.of([0.9, NAN, 0.1, 0.5, NAN], [True, True, False, False, False])
    assert s == Scores(positives=(0.9,), negatives=(0.1, 0.5))


def test_scores_of_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 scores but 3 labels"):
        Scores.of([0.1, 0.2], [True, False, True])


def test_auroc_perfect_reversed_ties_and_mixed() -> None:
    assert auroc(Scores((3.0, 4.0, 5.0), (0.0, 1.0, 2.0))) == 1.0
    assert auroc(Scores((0.0, 1.0), (2.0, 3.0))) == 0.0
    assert auroc(Scores((1.0, 1.0), (1.0, 1.0))) == 0.5
    # Pairs: 0.9 beats both negatives, 0.4 beats 0.1 and loses to 0.5 -> 3 of 4.
    assert auroc(Scores((0.9, 0.4), (0.5, 0.1))) == 0.75
    # 2 beats 1, 1 ties 1, both lose to 3: (1 + 1/2) / 4.
    assert auroc(Scores((2.0, 1.0), (1.0, 3.0))) == pytest.approx(0.375)


def test_auroc_nan_when_a_side_is_empty() -> None:
    assert math.isnan(auroc(Scores((1.0,), ())))
    assert math.isnan(auroc(Scores((), (1.0,))))


def test_auroc_ci_degenerate_cases_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert auroc_ci(Scores((3.0, 4.0, 5.0), (0.0, 1.0, 2.0))) == (1.0, 1.0)
        assert auroc_ci(Scores((0.0, 1.0), (2.0, 3.0))) == (0.0, 0.0)
        assert auroc_ci(Scores((1.0, 1.0), (1.0, 1.0))) == (0.5, 0.5)
        assert all(math.isnan(x) for x in auroc_ci(Scores((1.0,), (0.0, 2.0))))
        assert all(math.isnan(x) for x in auroc_ci(Scores((1.0, 2.0), ())))


def test_auroc_ci_contains_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(123)
    s = Scores(tuple(rng.normal(1.0, 1.0, 30).tolist()), tuple(rng.normal(0.0, 1.0, 30).tolist()))
    a = auroc(s)
    lo, hi = auroc_ci(s, seed=7)
    assert 0.0 <= lo < a < hi <= 1.0
    assert auroc_ci(s, seed=7) == (lo, hi)
    assert auroc_ci(s, seed=8) != (lo, hi)
    narrow = auroc_ci(s, confidence=0.5, seed=7)
    assert lo <= narrow[0] <= narrow[1] <= hi


def test_fit_threshold_distinct_scores() -> None:
    neg = [1.0, 2.0, 3.0, 4.0]
    t = fit_threshold(neg, 0.5)  # 2 of 4 may be flagged: 3 and 4
    assert 2.0 < t <= 3.0
    assert rates(Scores((), tuple(neg)), t)[1] == 0.5
    assert rates(Scores((), tuple(neg)), 2.0)[1] == 0.75  # any lower threshold breaks the budget
    assert t == np.nextafter(2.0, np.inf)
    assert fit_threshold(neg, 0.0) == np.nextafter(4.0, np.inf)  # nothing flagged
    assert fit_threshold(neg, 1.0) == 1.0  # everything flagged
    assert fit_threshold(neg, 0.3) == np.nextafter(3.0, np.inf)  # floor(1.2) = 1 allowed


def test_fit_threshold_ties_stay_unflagged() -> None:
    neg = [1.0, 2.0, 2.0, 3.0]
    # 2 may be flagged, but the 2nd and 3rd largest tie at 2: flagging one flags both, so only 3 is.
    t = fit_threshold(neg, 0.5)
    assert t == np.nextafter(2.0, np.inf)
    assert rates(Scores((), tuple(neg)), t)[1] == 0.25
    assert fit_threshold([5.0, 5.0, 5.0], 0.5) == np.nextafter(5.0, np.inf)


def test_fit_threshold_float_rounding_and_errors() -> None:
    neg = [float(i) for i in range(100)]
    # 0.29 * 100 is 28.999999999999996 in floats: still 29 allowed.
    assert rates(Scores((), tuple(neg)), fit_threshold(neg, 0.29))[1] == 0.29
    assert fit_threshold([NAN, 1.0, 2.0], 0.5) == np.nextafter(1.0, np.inf)
    with pytest.raises(ValueError, match="no negative cases"):
        fit_threshold([], 0.05)
    with pytest.raises(ValueError, match="max_fpr"):
        fit_threshold([1.0], 1.5)


def test_rates() -> None:
    s = Scores((0.9, 0.5, 0.2), (0.6, 0.1))
    assert rates(s, 0.5) == (pytest.approx(2 / 3), 0.5)  # >= : 0.5 is flagged
    assert rates(s, math.inf) == (0.0, 0.0)
    assert rates(s, -math.inf) == (1.0, 1.0)
    tpr, fpr = rates(Scores((1.0,), ()), 0.5)
    assert tpr == 1.0 and math.isnan(fpr)
    assert all(math.isnan(x) for x in rates(s, NAN))


def test_roc_curve_points_endpoints_and_monotone() -> None:
    fpr, tpr = roc_curve(Scores((0.9, 0.4), (0.5, 0.1)))
    assert fpr == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr == [0.0, 0.5, 0.5, 1.0, 1.0]
    rng = np.random.default_rng(0)
    s = Scores(tuple(rng.normal(1, 1, 20).round(1).tolist()), tuple(rng.normal(0, 1, 25).round(1).tolist()))
    fpr, tpr = roc_curve(s)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert all(np.diff(fpr) >= 0) and all(np.diff(tpr) >= 0)
    assert len(fpr) == len(set(s.positives) | set(s.negatives)) + 1
    # The trapezoid area under the curve is the AUROC (ties count half on both).
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(s))
    assert roc_curve(Scores((1.0,), ())) == ([], [])


def test_tpr_at_fpr_in_sample() -> None:
    s = Scores((0.9, 0.4), (0.5, 0.1))
    assert tpr_at_fpr(s, 0.5) == 1.0  # threshold just above 0.1: both positives flagged
    assert tpr_at_fpr(s, 0.0) == 0.5  # threshold just above 0.5: only 0.9
    assert math.isnan(tpr_at_fpr(Scores((1.0,), ()), 0.05))


def test_score_detector_applies_calibration_threshold_to_test() -> None:
    calibration = Scores((0.9, 0.8, 0.3), tuple(i / 10 for i in range(1, 11)))
    test = Scores((0.95, 0.85, 0.9, 0.2), (0.92, 0.5, 0.1, 0.81, 0.3))
    row = score_detector(calibration, test, fprs=(0.1, 0.2))
    cal, tst = row["calibration"], row["test"]
    assert (cal["n_positive"], cal["n_negative"], tst["n_positive"], tst["n_negative"]) == (3, 10, 4, 5)
    # fpr 0.1: 1 of 10 calibration negatives may be flagged (1.0): threshold just above 0.9.
    t1 = cal["fpr_0.1"]["threshold"]
    assert t1 == tst["fpr_0.1"]["threshold"] == np.nextafter(0.9, np.inf)
    assert cal["fpr_0.1"]["tpr"] == 0.0 and cal["fpr_0.1"]["fpr"] == 0.1
    assert tst["fpr_0.1"]["tpr"] == 0.25  # 0.95 only; 0.9 is not above the threshold
    assert tst["fpr_0.1"]["fpr"] == 0.2  # 0.92
    # fpr 0.2: threshold just above 0.8 (0.9 and 1.0 flagged in calibration).
    assert tst["fpr_0.2"]["threshold"] == np.nextafter(0.8, np.inf)
    assert cal["fpr_0.2"]["tpr"] == pytest.approx(1 / 3) and cal["fpr_0.2"]["fpr"] == 0.2
    assert tst["fpr_0.2"]["tpr"] == 0.75  # 0.95, 0.85, 0.9
    assert tst["fpr_0.2"]["fpr"] == 0.4  # 0.92, 0.81
    assert cal["auroc"] == auroc(calibration) and tst["auroc"] == auroc(test)
    assert cal["auroc_ci"] == list(auroc_ci(calibration))
    json.dumps(json_safe(row), allow_nan=False)


def test_score_detector_takes_a_detectors_own_thresholds() -> None:
    calibration = Scores((0.9, 0.8, 0.3), tuple(i / 10 for i in range(1, 11)))
    test = Scores((0.95, 0.85, 0.9, 0.2), (0.92, 0.5, 0.1, 0.81, 0.3))
    row = score_detector(calibration, test, fprs=(0.1, 0.2), thresholds={0.2: 0.86})
    assert row["calibration"]["fpr_0.2"]["threshold"] == row["test"]["fpr_0.2"]["threshold"] == 0.86
    assert row["test"]["fpr_0.2"]["tpr"] == 0.5 and row["test"]["fpr_0.2"]["fpr"] == 0.2  # 0.95, 0.9; 0.92
    assert row["calibration"]["fpr_0.2"]["fpr"] == 0.2  # 0.9 and 1.0
    assert row["test"]["fpr_0.1"]["threshold"] == np.nextafter(0.9, np.inf)  # the others still fitted


def test_score_detector_without_calibration_negatives() -> None:
    row = score_detector(Scores((1.0, 2.0), ()), Scores((1.0,), (0.0,)))
    assert set(row["test"]) == {"auroc", "auroc_ci", "n_positive", "n_negative", "fpr_0.01", "fpr_0.05"}
    for section in row.values():
        for key in ("fpr_0.01", "fpr_0.05"):
            assert all(math.isnan(v) for v in section[key].values())
    assert math.isnan(row["calibration"]["auroc"])
    assert row["test"]["auroc"] == 1.0
