"""Which rollouts the judge reads: a stratified sample of the store, within a budget.

Steps are cut into windows of `SelectionConfig.window_steps` consecutive steps; each (run, window)
gets `budget` rollouts, shared equally among its splits (target, control, or ``all`` when unlabelled),
so control is always read beside target. Inside each (run, window, split), failures come first
(``correct`` false, or, when correctness is unknown, the run's lowest reward): a model that
underperforms on purpose does so in its failures. The rest are taken in a fixed pseudo-random order
(a hash of the rollout's position and `seed`), so a re-run picks the same rollouts and the cache
answers them.

Because failures come first in every split, a target split that fails more is read more on its
failures than control is: the judge finding reports the failure share of each split's sample beside
the scores, so a reader can see that confound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlaudit.records import RolloutStore


@dataclass
class SelectionConfig:
    """How many rollouts the judge reads, and which."""

    budget: int = 32
    """Rollouts judged per window of steps (per run), shared equally among the splits (``--judge-budget``)."""
    window_steps: int = 10
    """Steps per window."""
    seed: int = 0
    """Order in which the non-failures of a stratum are taken."""

    def __post_init__(self) -> None:
        if self.budget < 1 or self.window_steps < 1:
            raise ValueError("judge budget and window_steps must be >= 1")


@dataclass(frozen=True)
class Transcript:
    """One rollout as the judge gets it (model text untrusted: quote it, escape it, never run it)."""

    run: str
    step: int
    split: str
    condition: str | None
    prompt: str
    completion: str
    reward: float | None
    failed: bool


def select(store: RolloutStore, config: SelectionConfig) -> list[Transcript]:
    """The rollouts to judge (see the module docstring), ordered by run, step and split."""
    if store.is_empty():
        return []
    con = store.connect()
    try:
        rows = con.execute(
            """
            WITH r AS (
                SELECT run, step, COALESCE(split, 'all') AS split, condition, prompt, completion, reward,
                       COALESCE(NOT correct, reward IS NULL OR isnan(reward)
                                OR reward <= min(reward) OVER (PARTITION BY run)) AS failed,
                       step // ? AS win, source, "row"
                FROM rollouts
            ), sized AS (
                SELECT *, greatest(1, ? // count(DISTINCT split) OVER (PARTITION BY run, win)) AS quota
                FROM r
            )
            SELECT run, step, split, condition, prompt, completion, reward, failed FROM sized
            QUALIFY row_number() OVER (
                PARTITION BY run, win, split ORDER BY failed DESC, hash(source, "row", ?)
            ) <= quota
            ORDER BY run, step, split, source, "row"
            """,
            [config.window_steps, config.budget, config.seed],
        ).fetchall()
    finally:
        con.close()
    return [_transcript(r) for r in rows]


def _transcript(row: tuple[Any, ...]) -> Transcript:
    run, step, split, condition, prompt, completion, reward, failed = row
    return Transcript(
        run=str(run),
        step=int(step),
        split=str(split),
        condition=None if condition is None else str(condition),
        prompt="" if prompt is None else str(prompt),
        completion="" if completion is None else str(completion),
        reward=None if reward is None else float(reward),
        failed=bool(failed),
    )
