"""Which float columns of a TRL completions log are reward functions, when no trainer_state.json says.

TRL's completions parquet has one float column per reward function and, beside them, whatever
`log_extra` columns the reward functions added, floats included; nothing in the file marks which is
which. The run's trainer_state.json does (it logs `rewards/<fn>/mean`), but a `completions/` folder
on its own (what TRL's hub upload of completions gives) has none.

The logged `advantage` column can tell them apart: TRL computes it from the weighted sum of the reward
functions only, centred within each GRPO group (the rows of a step sharing a prompt) and scaled by a
positive factor (the group's std, the batch's std, or 1, by `scale_rewards`). So within every group the
advantages are a positive multiple of the centred sum of exactly the reward columns. `infer` tries
every subset of the float columns and keeps those that fit every group:

- one subset fits: those are the reward functions, the rest are extras;
- several fit (a column constant within every group changes no advantage), none fits (weights other
  than the ones given, a custom advantage), or nothing to test (no `advantage` column, no group whose
  rewards vary): it cannot tell, and says so; every float column is then summed, as before.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_COLUMNS = 10
"""Most candidate columns tried (2**10 subsets); past this, no inference."""
TOLERANCE = 1e-3
"""Relative misfit allowed between an advantage and its scaled centred reward: TRL adds 1e-4 to the std
and logs float32, so a true fit is within ~1e-4; a wrong subset misses by far more."""
MIN_GROUPS = 3
"""Groups with varying rewards needed before a fit is evidence (one group fits many subsets)."""


@dataclass(frozen=True)
class Inference:
    """The reward columns found (None when it cannot tell) and why, for the ingest's notes."""

    rewards: list[str] | None
    reason: str


def infer(tables: list[pa.Table], candidates: list[str], weights: dict[str, float] | None) -> Inference:
    """Which of `candidates` (float columns of every table) are reward functions, from the tables'
    `advantage` column (see the module docstring)."""
    if len(candidates) < 2:
        return Inference(candidates, "one float column: it is the reward")
    if len(candidates) > MAX_COLUMNS:
        return Inference(None, f"{len(candidates)} float columns are too many to test (most {MAX_COLUMNS})")
    groups = list(_groups(tables, candidates))
    if not groups:
        return Inference(
            None, "no 'advantage' column, or no group with two or more rollouts, to test against"
        )
    w = np.array([float((weights or {}).get(c, 1.0)) for c in candidates])
    fits = []
    informative = 0
    for size in range(1, len(candidates) + 1):
        for subset in itertools.combinations(range(len(candidates)), size):
            ok, varying = _fits(groups, list(subset), w)
            if ok:
                fits.append(subset)
                informative = max(informative, varying)
    if len(fits) == 1 and informative >= MIN_GROUPS:
        names = [candidates[i] for i in fits[0]]
        return Inference(names, f"the logged advantages fit the sum of exactly {', '.join(names)}")
    if not fits:
        return Inference(None, "no subset of the float columns reproduces the logged advantages")
    if informative < MIN_GROUPS:
        return Inference(None, f"fewer than {MIN_GROUPS} groups with varying rewards to test against")
    shown = "; ".join("+".join(candidates[i] for i in s) for s in fits[:4])
    return Inference(None, f"several sets of columns fit the logged advantages equally ({shown})")


def _groups(tables: list[pa.Table], candidates: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(component matrix, advantages) per group of rows sharing step and prompt."""
    out = []
    for table in tables:
        if "advantage" not in table.column_names or not {"step", "prompt"} <= set(table.column_names):
            continue
        matrix = np.column_stack([_floats(table.column(c)) for c in candidates])
        adv = _floats(table.column("advantage"))
        keys: dict[tuple[object, object], list[int]] = {}
        for i, key in enumerate(zip(_keys(table.column("step")), _keys(table.column("prompt")), strict=True)):
            keys.setdefault(key, []).append(i)
        for rows in keys.values():
            # An infinite component (rejected later by the ingest) or an unlogged advantage: untestable.
            if len(rows) >= 2 and np.isfinite(adv[rows]).all() and not np.isinf(matrix[rows]).any():
                out.append((matrix[rows], adv[rows]))
    return out


def _keys(column: pa.ChunkedArray) -> list[object]:
    """Hashable group keys: chat prompts are lists of message structs, and a malformed step column may
    hold lists too (the ingest rejects it later, as bad input; the fuzz found it crashing here)."""
    return [v if isinstance(v, str | int | float | bool | None) else repr(v) for v in column.to_pylist()]


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _fits(groups: list[tuple[np.ndarray, np.ndarray]], subset: list[int], w: np.ndarray) -> tuple[bool, int]:
    """Whether every group's advantages are a positive multiple of its centred weighted sum over
    `subset` (NaN components left out, like TRL's nansum); and how many groups' rewards varied."""
    varying = 0
    for matrix, adv in groups:
        reward = np.nansum(matrix[:, subset] * w[subset], axis=1)
        centred = reward - reward.mean()
        scale = max(1.0, float(np.abs(adv).max()))
        if float(np.abs(centred).max()) <= 1e-9:
            if float(np.abs(adv).max()) > TOLERANCE * scale:
                return False, varying
            continue
        varying += 1
        factor = float(adv @ centred) / float(centred @ centred)
        if factor <= 0 or float(np.abs(adv - factor * centred).max()) > TOLERANCE * scale:
            return False, varying
    return True, varying
