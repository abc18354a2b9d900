"""Linear probes on pooled activations: standardised logistic regression, saved as plain JSON.

What a probe measures: the direction in one layer's pooled activations (`rlaudit.interp.activations`)
that best separates two labelled sets (label 1: instructed to underperform, or a model known to
resist RL; label 0: do-your-best, or a model known honest; `rlaudit.interp.labels` makes both), and,
for any new activation, the probability that it lies on the label-1 side. A positive is a high score
on prompts where the model was not told anything.

Fitting (`fit_probe`) is ``make_pipeline(StandardScaler(), LogisticRegressionCV(...))`` from
scikit-learn, on a training part of the data; the regularisation strength is chosen by cross-validated
AUROC (folds by group, so the two instructed copies of one problem never straddle folds), seeded. The
rest, split off by group (`test_fraction`), gives the held-out metrics the probe file records: AUROC
and the true-positive rate at 1% and 5% false positives (the operating points the deception-probe
literature reports: AUROC 0.96-0.999, 95-99% recall at 1% FPR on a 70B model's residual stream,
Goldowsky-Dill et al. 2025, "Detecting Strategic Deception Using Linear Probes"), plus the mean
decision value of each held-out class, which the probe audit uses to place a score between the two.

A `Probe` is arrays and numbers only: `Probe.save` writes JSON (coefficients, scaler mean and scale,
intercept, the chosen C, layer, pooling, label meanings, a hash of the training data, held-out
metrics), `Probe.load` reads it back, and scoring is numpy (no scikit-learn, never pickle).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "rlaudit-probe"
VERSION = 1


class ProbeFileError(ValueError):
    """A probe file that cannot be read: its message names the file and the field."""


@dataclass
class Probe:
    """A fitted linear probe: ``p = sigmoid(((x - mean) / scale) @ coef + intercept)``."""

    layer: str
    """The layer spec its activations come from (`rlaudit.interp.layers`)."""
    pooling: str
    """How a sequence became one vector (`rlaudit.interp.pooling`)."""
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    C: float
    """Inverse regularisation strength chosen by cross-validation."""
    source: str
    """Where its labels came from: ``contrast`` (instructed prompts) or ``models`` (labelled models)."""
    labels: dict[str, str]
    """What label 0 and label 1 mean."""
    data_hash: str
    """sha256 of the training activations and labels (float32 bytes, then int8 labels)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Held-out metrics (`heldout_metrics`)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What produced it: model, task, instructions, seeds, sizes."""

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """The logit of label 1 for each row of `x` ``(n, hidden)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.coef.shape[0]:
            raise ValueError(
                f"the probe reads {self.coef.shape[0]}-wide activations of layer {self.layer!r}; got "
                f"shape {x.shape} (a different model or layer?)"
            )
        return np.asarray(((x - self.mean) / self.scale) @ self.coef + self.intercept)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """The probability of label 1 for each row of `x`."""
        z = self.decision_function(x)
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "layer": self.layer,
            "pooling": self.pooling,
            "source": self.source,
            "labels": self.labels,
            "coef": [float(v) for v in self.coef],
            "intercept": float(self.intercept),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "C": float(self.C),
            "data_hash": self.data_hash,
            "metrics": self.metrics,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "probe") -> Probe:
        """A probe from `to_dict`'s dict; anything missing or malformed is a `ProbeFileError`."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ProbeFileError(f"{where}: not an rlaudit probe (field 'format' must be {FORMAT!r})")
        if d.get("version") != VERSION:
            raise ProbeFileError(
                f"{where}: field 'version' is {d.get('version')!r}; this rlaudit reads {VERSION}"
            )
        arrays = {}
        for name in ("coef", "mean", "scale"):
            value = d.get(name)
            if not isinstance(value, list) or not value or not all(_finite(v) for v in value):
                raise ProbeFileError(f"{where}: field {name!r} must be a non-empty list of finite numbers")
            arrays[name] = np.asarray(value, dtype=np.float64)
        if not len(arrays["coef"]) == len(arrays["mean"]) == len(arrays["scale"]):
            raise ProbeFileError(f"{where}: fields 'coef', 'mean' and 'scale' must have one length")
        if not all(arrays["scale"] > 0):
            raise ProbeFileError(f"{where}: field 'scale' must be positive")
        for name in ("intercept", "C"):
            if not _finite(d.get(name)):
                raise ProbeFileError(f"{where}: field {name!r} must be a finite number")
        for name in ("layer", "pooling", "source", "data_hash"):
            if not isinstance(d.get(name), str) or not d[name]:
                raise ProbeFileError(f"{where}: field {name!r} must be a non-empty string")
        from rlaudit.interp.pooling import POOLINGS

        if d["pooling"] not in POOLINGS:
            raise ProbeFileError(f"{where}: field 'pooling' must be one of {', '.join(POOLINGS)}")
        for name in ("labels", "metrics", "meta"):
            if not isinstance(d.get(name, {}), dict):
                raise ProbeFileError(f"{where}: field {name!r} must be an object")
        return cls(
            layer=d["layer"],
            pooling=d["pooling"],
            coef=arrays["coef"],
            intercept=float(d["intercept"]),
            mean=arrays["mean"],
            scale=arrays["scale"],
            C=float(d["C"]),
            source=d["source"],
            labels=dict(d.get("labels", {})),
            data_hash=d["data_hash"],
            metrics=dict(d.get("metrics", {})),
            meta=dict(d.get("meta", {})),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the probe as JSON to `path` (atomically: a temp file beside it, then a rename)."""
        from rlaudit.jsonsafe import json_safe
        from rlaudit.judgement import write_atomic

        path = Path(path)
        write_atomic(json.dumps(json_safe(self.to_dict()), indent=1, allow_nan=False) + "\n", path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Probe:
        """Read a probe `save` wrote; an unreadable file is a `ProbeFileError` naming it."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise ProbeFileError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
        except json.JSONDecodeError as e:
            raise ProbeFileError(f"{path}: not JSON (line {e.lineno}: {e.msg})") from None
        return cls.from_dict(d, where=str(path))


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def data_hash(x: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the activations (float32, C order) then the labels (int8)."""
    h = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int8).tobytes())
    return h.hexdigest()


def heldout_metrics(y: np.ndarray, decision: np.ndarray) -> dict[str, float]:
    """AUROC, accuracy at p = 0.5, TPR at <= 1% and <= 5% FPR, the mean decision value and mean
    probability of each class, and the counts, of decision values `decision` for labels `y`."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(y).astype(int)
    decision = np.asarray(decision, dtype=np.float64)
    both = len(set(y.tolist())) == 2
    out: dict[str, float] = {"n_test": float(len(y)), "n_positive": float(y.sum())}
    out["auroc"] = float(roc_auc_score(y, decision)) if both else math.nan
    out["accuracy"] = float(((decision > 0).astype(int) == y).mean()) if len(y) else math.nan
    if both:
        fpr, tpr, _ = roc_curve(y, decision)
        for target in (0.01, 0.05):
            out[f"tpr_at_fpr_{target:g}"] = float(tpr[fpr <= target].max())
    prob = 1.0 / (1.0 + np.exp(-decision))
    for label in (0, 1):
        chosen = y == label
        out[f"mean_decision_{label}"] = float(decision[chosen].mean()) if chosen.any() else math.nan
        out[f"mean_probability_{label}"] = float(prob[chosen].mean()) if chosen.any() else math.nan
    return out


def fit_probe(
    x: np.ndarray,
    y: np.ndarray,
    *,
    layer: str,
    pooling: str,
    source: str,
    labels: dict[str, str],
    groups: np.ndarray | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    folds: int = 5,
    cs: int | Sequence[float] = 10,
    meta: dict[str, Any] | None = None,
) -> Probe:
    """Fit a probe on `x` ``(n, hidden)`` with labels `y` in {0, 1} (see the module docstring).

    `groups` (default: each row its own) keeps rows of one group together in the held-out split and
    in the cross-validation folds. `cs` is the strengths to cross-validate: a count (a log grid, as
    scikit-learn's ``Cs``) or the values themselves (a single value fixes it). The probe is fitted on
    the training part only, so its held-out metrics describe the probe that is saved."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold, GroupShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).astype(int)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"x must be (n, hidden) with one label per row (got {x.shape}, {len(y)} labels)")
    if set(y.tolist()) != {0, 1}:
        raise ValueError("a probe needs rows of both labels, 0 and 1")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1) (got {test_fraction})")
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    split = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(split.split(x, y, groups))
    n_folds = min(folds, len(set(groups[train].tolist())))
    if n_folds < 2 or len(set(y[train].tolist())) < 2 or len(set(y[test].tolist())) < 2:
        raise ValueError("too few rows or groups to fit and hold out a probe; give more problems")
    cv = list(GroupKFold(n_splits=n_folds).split(x[train], y[train], groups[train]))
    pipe = make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(
            Cs=cs if isinstance(cs, int) else list(cs),
            cv=cv,
            l1_ratios=(0.0,),
            scoring="roc_auc",
            max_iter=2000,
            random_state=seed,
            use_legacy_attributes=False,
        ),
    )
    # A regularisation strength lbfgs does not converge at (the weakest, on separable data) is common
    # and harmless to the chosen one; it is recorded in the probe's meta, not printed once per fold.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        pipe.fit(x[train], y[train])
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    scaler, lr = pipe[0], pipe[-1]
    probe = Probe(
        layer=layer,
        pooling=pooling,
        coef=np.asarray(lr.coef_[0], dtype=np.float64),
        intercept=float(lr.intercept_[0]),
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scaler.scale_, dtype=np.float64),
        C=float(np.ravel(lr.C_)[0]),
        source=source,
        labels=dict(labels),
        data_hash=data_hash(x, y),
        meta={
            **(meta or {}),
            "seed": seed,
            "n_train": len(train),
            "n_test": len(test),
            "unconverged_fits": unconverged,
        },
    )
    probe.metrics = heldout_metrics(y[test], probe.decision_function(x[test]))
    return probe
