"""Per-difficulty performance: rollouts counted by run, step, split and the problem's difficulty.

A task file may give each problem a `difficulty` (any label: a level, an operand range); TRL's callback
and a JSONL log carry it per rollout, and the store keeps it in the `extra` JSON column. With it, a
target split that trails control can be compared with control *at the same difficulty*
(`rlaudit.detectors.difficulty`): a harder target alone is then not read as resistance.

Performance is the pass rate where `correct` is logged, else the mean reward (0/1 for a correctness
reward, as `rlaudit elicit` gives).
"""

from __future__ import annotations

import pyarrow as pa

from rlaudit.records import RolloutStore
from rlaudit.signals.compute import SignalsConfig

DIFFICULTY_KEY = "difficulty"
"""The per-rollout field (a task file's column, kept in the store's `extra` JSON) read as difficulty."""

_SQL = """
    SELECT run, step, split, family, d AS difficulty, count(*) AS n, sum(perf) AS perf_sum
    FROM (
        SELECT run, step, split,
               left(regexp_replace(prompt, $mask, '#', 'g'), $prefix) AS family,
               json_extract_string(extra, $path) AS d,
               coalesce(CAST(correct AS DOUBLE), reward) AS perf
        FROM rollouts
        WHERE split IS NOT NULL AND extra IS NOT NULL
    )
    WHERE d IS NOT NULL AND perf IS NOT NULL AND NOT isnan(perf)
    GROUP BY run, step, split, family, d
"""


def difficulty_levels(store: RolloutStore, cfg: SignalsConfig | None = None) -> pa.Table | None:
    """Columns run, step, split, family (the prompt family as `SignalsConfig` masks it, for the
    unlabelled view's findings), difficulty (as text), n (rollouts) and perf_sum (passes, or summed
    reward) per step, split, family and difficulty; None when no labelled rollout carries a difficulty."""
    cfg = cfg or SignalsConfig()
    if store.is_empty():
        return None
    con = store.connect()
    try:
        # The JSON path and the mask are bound parameters: nothing user-given goes into SQL text.
        params = {
            "mask": cfg.family_mask,
            "prefix": int(cfg.family_prefix_chars),
            "path": "$." + DIFFICULTY_KEY,
        }
        table = con.sql(_SQL, params=params).to_arrow_table()
    finally:
        con.close()
    return table if table.num_rows else None
