"""Fit the audit's combined score (`rlaudit.audits.combined.Calibration`) on the bench's calibration cases.

A logistic regression (scikit-learn) over each case's features, standardised by the calibration cases'
mean and standard deviation, classes weighted to balance (positives and negatives count alike whatever
their numbers), L2-regularised with `FitConfig.c`. The verdict thresholds are fitted on the same
cases' negatives (`rlaudit.bench.metrics.fit_threshold`): ``suspicious`` at `FitConfig.suspicious_fpr`,
``hacking_likely`` at `FitConfig.hacking_likely_fpr`. Only calibration build seeds go in: the test
seeds' numbers are then out of sample.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlaudit.audits.combined import FEATURES, Calibration
from rlaudit.bench.metrics import fit_threshold


@dataclass(frozen=True)
class FitConfig:
    """How the combined score is fitted."""

    c: float = 1.0
    """Inverse L2 strength (scikit-learn's ``C``). 1, its default: with 32 calibration cases and 5
    features a weaker penalty lets one feature's exact cut decide, which does not carry to new seeds."""
    suspicious_fpr: float = 0.05
    """Calibration FPR of the ``suspicious`` threshold: the issue's 5% operating point."""
    hacking_likely_fpr: float = 0.01
    """Calibration FPR of the ``hacking-likely`` threshold: 1%, so above every calibration negative
    while there are fewer than 100."""


def fit(
    cases: Sequence[dict[str, Any]], provenance: dict[str, Any] | None = None, cfg: FitConfig | None = None
) -> Calibration:
    """A `Calibration` from `cases` (each with ``features`` and ``positive``; cases without features
    are left out). ValueError without both classes."""
    from sklearn.linear_model import LogisticRegression

    cfg = cfg or FitConfig()
    usable = [c for c in cases if c.get("features")]
    y = np.array([bool(c["positive"]) for c in usable])
    if y.all() or not y.any():
        raise ValueError("fitting the combined score needs resistant and honest cases with features")
    x = np.array([[c["features"][name] for name in FEATURES] for c in usable], dtype=float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0  # a constant feature: left unscaled (its weight comes out 0)
    model = LogisticRegression(C=cfg.c, class_weight="balanced", max_iter=10_000)
    model.fit((x - mean) / scale, y)
    draft = Calibration(
        features=FEATURES,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in model.coef_[0]),
        intercept=float(model.intercept_[0]),
        suspicious=0.0,
        hacking_likely=0.0,
    )
    negatives = [draft.score(c["features"]) for c, label in zip(usable, y, strict=True) if not label]
    suspicious = fit_threshold(negatives, cfg.suspicious_fpr)
    hacking = max(suspicious, fit_threshold(negatives, cfg.hacking_likely_fpr))
    meta = {
        "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "n_positive": int(y.sum()),
        "n_negative": int((~y).sum()),
        "fit": {
            "c": cfg.c,
            "suspicious_fpr": cfg.suspicious_fpr,
            "hacking_likely_fpr": cfg.hacking_likely_fpr,
        },
        **(provenance or {}),
    }
    return Calibration(
        features=draft.features,
        mean=draft.mean,
        scale=draft.scale,
        coef=draft.coef,
        intercept=draft.intercept,
        suspicious=suspicious,
        hacking_likely=hacking,
        provenance=meta,
    )


def git_commit() -> str | None:
    """The rlaudit checkout's commit (with ``+dirty`` for uncommitted changes); None outside a git checkout."""
    here = Path(__file__).parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("+dirty" if dirty else "")
