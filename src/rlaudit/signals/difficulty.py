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

DIFFICULTY_KEY = "difficulty"
"""The per-rollout field (a task file's column, kept in the store's `extra` JSON) read as difficulty."""

_SQL = """
    SELECT run, step, split, d AS difficulty, count(*) AS n, sum(perf) AS perf_sum
    FROM (
        SELECT run, step, split,
               json_extract_string(extra, ?) AS d,
               coalesce(CAST(correct AS DOUBLE), reward) AS perf
        FROM rollouts
        WHERE split IS NOT NULL AND extra IS NOT NULL
    )
    WHERE d IS NOT NULL AND perf IS NOT NULL AND NOT isnan(perf)
    GROUP BY run, step, split, d
"""


def difficulty_levels(store: RolloutStore) -> pa.Table | None:
    """Columns run, step, split, difficulty (as text), n (rollouts) and perf_sum (passes, or summed
    reward) per step, split and difficulty; None when no labelled rollout carries a difficulty."""
    if store.is_empty():
        return None
    con = store.connect()
    try:
        # The JSON path is a bound parameter: nothing user-given goes into SQL text.
        table = con.sql(_SQL, params=["$." + DIFFICULTY_KEY]).to_arrow_table()
    finally:
        con.close()
    return table if table.num_rows else None
