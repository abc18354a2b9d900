"""The token-list diversity signals of the group table (distinct-1/2, pairwise similarity), computed on
a sample bounded in rollouts and in chunks bounded in rollouts.

Why chunks: these measures need each sampled group's completions as token lists. Built in one query,
DuckDB holds every sampled completion's tokens at once (a list aggregate cannot spill), and on a run
with a handful of groups per step the sample is every completion: 1M rollouts of ~45 words ran out of
memory under the 1 GB cap. Each chunk here covers a contiguous step range of one run with at most
`SignalsConfig.diversity_chunk_rollouts` sampled rollouts (a single larger step is one chunk of its
own), so memory is bounded by the chunk, not the run. Each group's values depend only on its own
completions, so the chunking never changes a value. A group is the rollouts of one run x step x group id (a
group id a log reuses at every step names a different group at each; before chunking, its
diversity pooled the completions of every step).

Why a budget in rollouts: the groups-per-cell cap alone samples every completion when groups are few
and large; `SignalsConfig.diversity_rollouts` also caps the rollouts per cell (whole groups, in the
same hash order, at least one group per cell).

Why a budget per run: with a handful of groups per step the per-cell caps keep every rollout, so the
cost grows with the run (tokenising was most of `rlaudit monitor`'s CPU on a 1M-rollout, 31k-step
log). Past `SignalsConfig.diversity_run_rollouts` sampled rollouts in one run, the sample keeps every
k-th logged step (k the smallest stride that fits), and the other steps' diversity is NULL: the series
is coarser, never biased, and what a detector reads of it (a change point, first/last means) needs
thousands of points, not tens of thousands. Runs under the budget (every shipped example, organism
and test run) are sampled exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from rlaudit.signals.compute import SignalsConfig

_SAMPLE_SQL = """
    CREATE OR REPLACE TEMP TABLE diversity_sample AS
    WITH ranked AS (
        SELECT run, step, "group", n,
               row_number() OVER cell AS rk,
               sum(n) OVER cell - n AS before
        FROM groups
        WINDOW cell AS (PARTITION BY run, step, split, condition ORDER BY md5("group"), "group"
                        ROWS UNBOUNDED PRECEDING)
    ),
    kept AS (
        SELECT run, step, "group", n FROM ranked
        WHERE rk <= $groups AND (rk = 1 OR before + n <= $rollouts)
    ),
    stepped AS (  -- past $run_rollouts sampled rollouts in a run, every stride-th logged step only
        SELECT run, step, "group", n,
               dense_rank() OVER (PARTITION BY run ORDER BY step) - 1 AS step_rank,
               greatest(ceil(sum(n) OVER (PARTITION BY run) / $run_rollouts), 1)::BIGINT AS stride
        FROM kept
    ),
    strided AS (SELECT run, step, "group", n FROM stepped WHERE step_rank % stride = 0),
    per_step AS (
        SELECT run, step, sum(n) AS n,
               sum(sum(n)) OVER (PARTITION BY run ORDER BY step ROWS UNBOUNDED PRECEDING) - sum(n) AS before
        FROM strided GROUP BY run, step
    )
    SELECT k.run, k."group", k.step, floor(p.before / $chunk)::BIGINT AS chunk
    FROM strided k JOIN per_step p ON k.run = p.run AND k.step = p.step
"""

_UPDATE_SQL = """
    UPDATE groups SET distinct_1 = d.distinct_1, distinct_2 = d.distinct_2, pairwise_sim = d.pairwise_sim
    FROM (
        WITH sampled AS (
            SELECT run, step, "group" FROM diversity_todo WHERE run = $run AND chunk = $chunk
        ),
        lists AS (
            SELECT ro.run, ro.step, ro."group",
                   list(string_split(trim(completion), ' ') ORDER BY source, "row") AS l
            FROM rollouts ro
            SEMI JOIN sampled ON ro.run = sampled.run AND ro.step = sampled.step AND ro."group" = sampled."group"
            WHERE ro.run = $run AND ro.step BETWEEN $lo AND $hi
            GROUP BY ro.run, ro.step, ro."group"
        )
        SELECT run, step, "group",
               len(list_distinct(flatten(l))) / greatest(len(flatten(l)), 1) AS distinct_1,
               len(list_distinct(flatten(list_transform(l, lambda t:
                   list_transform(range(1, len(t)), lambda i: t[i] || ' ' || t[i + 1])))))
                   / greatest(list_sum(list_transform(l, lambda t: greatest(len(t) - 1, 0))), 1)
                   AS distinct_2,
               -- neighbouring pairs: an unbiased estimate of the mean over all pairs
               list_avg(list_transform(range(1, len(l)), lambda i:
                   len(list_intersect(l[i], l[i + 1]))
                   / greatest(len(list_distinct(list_concat(l[i], l[i + 1]))), 1))) AS pairwise_sim
        FROM lists
    ) d
    WHERE groups.run = d.run AND groups.step = d.step AND groups."group" = d."group"
"""


_FROM_KNOWN_SQL = """
    UPDATE groups SET distinct_1 = k.distinct_1, distinct_2 = k.distinct_2, pairwise_sim = k.pairwise_sim
    FROM diversity_known k SEMI JOIN diversity_sample s
         ON k.run = s.run AND k.step = s.step AND k."group" = s."group"
    WHERE groups.run = k.run AND groups.step = k.step AND groups."group" = k."group"
"""


def update_diversity(
    con: duckdb.DuckDBPyConnection, cfg: SignalsConfig, known: pa.Table | None = None
) -> pa.Table:
    """Fill `distinct_1`, `distinct_2` and `pairwise_sim` of the sampled groups in `groups`, one chunk
    of steps at a time; the groups left out of the sample keep NULL (the step value is the sample mean).

    `known`: values already computed for (run, step, group) on the same store (a group's values depend
    on its completions alone, never on split labels), taken as they are instead of re-tokenised. The
    monitor's unlabelled view passes the labelled pass's: its sample is a subset of the labelled one
    (same hash order, coarser cells), so it tokenises nothing again. Returns this pass's sampled
    groups with their values, to be passed as a later pass's `known`."""
    con.execute(
        _SAMPLE_SQL,
        {
            "groups": int(cfg.diversity_groups),
            "rollouts": int(cfg.diversity_rollouts),
            "run_rollouts": max(int(cfg.diversity_run_rollouts), 1),
            "chunk": max(int(cfg.diversity_chunk_rollouts), 1),
        },
    )
    if known is not None and known.num_rows:
        con.register("diversity_known", known)
        con.execute(_FROM_KNOWN_SQL)
        con.execute(
            """CREATE OR REPLACE TEMP TABLE diversity_todo AS
               SELECT * FROM diversity_sample s ANTI JOIN diversity_known k
               ON k.run = s.run AND k.step = s.step AND k."group" = s."group"
            """
        )
        con.unregister("diversity_known")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE diversity_todo AS SELECT * FROM diversity_sample")
    chunks = con.execute(
        """SELECT run, chunk, min(step), max(step) FROM diversity_todo
           GROUP BY run, chunk ORDER BY run, chunk"""
    ).fetchall()
    for run, chunk, lo, hi in chunks:
        con.execute(_UPDATE_SQL, {"run": run, "chunk": chunk, "lo": lo, "hi": hi})
    done = con.sql(
        """SELECT s.run, s.step, s."group", any_value(g.distinct_1) AS distinct_1,
                  any_value(g.distinct_2) AS distinct_2, any_value(g.pairwise_sim) AS pairwise_sim
           FROM diversity_sample s JOIN groups g ON g.run = s.run AND g.step = s.step AND g."group" = s."group"
           GROUP BY s.run, s.step, s."group"
        """
    ).to_arrow_table()
    con.execute("DROP TABLE diversity_sample")
    con.execute("DROP TABLE diversity_todo")
    return done
