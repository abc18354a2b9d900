"""The two SQL passes behind the signals, generated from the registry (`rlaudit.signals.compute` runs
them): first one row per GRPO group (`group_table`), then per run x step x split x condition and per run
x step x split pooled over conditions (`condition = '*'`): every registered signal by name (`step_sql`),
aggregated over ranges of steps (`step_table`) and streamed out of DuckDB in bounded batches."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from rlaudit.signals.diversity import update_diversity
from rlaudit.signals.registry import HELPERS, POOLED, SIGNALS, UNLABELLED

if TYPE_CHECKING:
    from rlaudit.signals.compute import SignalsConfig


def success_sql() -> str:
    return """
        CASE
            WHEN correct IS NOT NULL THEN correct::INT
            WHEN info.binary01 THEN (reward >= 1)::INT
            WHEN info.n_vals = 2 THEN (reward = info.hi)::INT
            ELSE NULL
        END
    """


def step_table(con: duckdb.DuckDBPyConnection, cfg: SignalsConfig) -> pa.Table:
    """The step table, aggregated one range of steps at a time (`SignalsConfig.step_chunk_steps`):
    each step's row depends on its own groups only, so the chunks change no value, and DuckDB's
    aggregate over 312,500 steps per run at once ran out of memory under 1GB."""
    row = con.execute("SELECT min(step), max(step), count(DISTINCT (run, step)) FROM groups").fetchall()[0]
    lo, hi, pairs = int(row[0]), int(row[1]), int(row[2])
    width = max(math.ceil((hi - lo + 1) / max(math.ceil(pairs / max(cfg.step_chunk_steps, 1)), 1)), 1)
    parts = [
        con.sql(step_sql(), params={"lo": a, "hi": a + width - 1}).to_arrow_reader(STREAM_ROWS).read_all()
        for a in range(lo, hi + 1, width)
    ]
    return pa.concat_tables(parts).sort_by([(k, "ascending") for k in ("run", "split", "condition", "step")])


def streamed(con: duckdb.DuckDBPyConnection, sql: str, order: list[str]) -> pa.Table:
    """The result of `sql` as Arrow, fetched in record batches (DuckDB never holds the whole result),
    sorted by the (unique) keys `order`, as its ORDER BY: without `preserve_insertion_order` a streamed
    result's batches may arrive out of order. Why stream: `to_arrow_table` collects the result inside
    DuckDB, under its memory cap and unable to spill, and the step table of 10M rollouts over 312,500
    steps per run (2.5M rows, ~600 MB) ran out of memory under the default 1GB (docs/benchmarks.md,
    "Monitor cost on real run shapes"); streamed, it completes."""
    return con.sql(sql).to_arrow_reader(STREAM_ROWS).read_all().sort_by([(k, "ascending") for k in order])


STREAM_ROWS = 65_536
"""Rows per record batch of a streamed result."""


def split_sql(cfg: SignalsConfig) -> str:
    """The SQL of a rollout's split: its label, or `UNLABELLED` (always, for the unlabelled view)."""
    return f"'{UNLABELLED}'" if cfg.ignore_splits else f"COALESCE(split, '{UNLABELLED}')"


def group_table(
    con: duckdb.DuckDBPyConnection, cfg: SignalsConfig, known: pa.Table | None = None
) -> pa.Table:
    """One row per GRPO group (the unit GRPO normalises advantages over).

    The token-list diversity measures (distinct-1/2, pairwise similarity) cost far more than the rest,
    so they are computed on up to `cfg.diversity_groups` groups and `cfg.diversity_rollouts` rollouts
    per run x step x split x condition (chosen by a hash of the group id: the same groups on every
    re-run), in chunks of steps (`signals.diversity`); their step means are estimates from that
    sample. Everything else uses every group. `known` diversity values are reused (`update_diversity`);
    returns the sampled groups' values.
    """
    split = split_sql(cfg)
    con.execute(
        f"""
        CREATE TEMP TABLE groups AS
        WITH info AS (
            SELECT run,
                   count(DISTINCT reward) FILTER (WHERE reward IS NOT NULL) AS n_vals,
                   max(reward) FILTER (WHERE reward IS NOT NULL) AS hi,
                   bool_and(reward IN (0, 1)) FILTER (WHERE reward IS NOT NULL) AS binary01
            FROM rollouts GROUP BY run
        ),
        r AS (
            SELECT ro.run, step, {split} AS split,
                   COALESCE(condition, '{UNLABELLED}') AS condition, "group", prompt, completion,
                   reward,
                   {success_sql()} AS success,
                   entropy,
                   COALESCE(n_tokens, len(string_split(trim(completion), ' '))) AS length,
                   -- the live probe's score (`rlaudit.training.live_probe`), kept in `extra`
                   TRY_CAST(json_extract_string(extra, '$.probe_score') AS DOUBLE) AS probe_score
            FROM rollouts ro JOIN info ON ro.run = info.run
        )
        SELECT run, step, split, condition, "group",
               count(*) AS n,
               avg(reward) AS r_mean,
               count(reward) AS n_r,
               sum(reward) AS r_sum,
               sum(reward * reward) AS r_sq,
               COALESCE(max(reward) - min(reward), 0) = 0 AND count(reward) >= 2 AS zero_std,
               count(success) AS n_s,
               sum(success) AS c,
               avg(success) AS s_rate,
               CASE WHEN count(success) > 0 THEN sum(success) = 0 ELSE max(reward) <= min(reward) END
                   AS all_fail,
               avg(entropy) AS entropy,
               avg(length) AS length,
               count(probe_score) AS n_probe,
               sum(probe_score) AS probe_sum,
               count(DISTINCT completion) / count(*) AS unique_frac,
               CAST(NULL AS DOUBLE) AS distinct_1,
               CAST(NULL AS DOUBLE) AS distinct_2,
               CAST(NULL AS DOUBLE) AS pairwise_sim,
               left(regexp_replace(min(prompt), $mask, '#', 'g'), {int(cfg.family_prefix_chars)})
                   AS family,
               left(min(prompt), 300) AS example_prompt
        FROM r
        GROUP BY run, step, split, condition, "group"
        """,
        {"mask": cfg.family_mask},  # a parameter, never SQL text
    )
    group_diversity = update_diversity(con, cfg, known)
    # all_fail for a group with unknown success and rewards that vary is false; fix up the case of
    # zero-variance groups in runs without success: all-fail = at the run's lowest reward.
    con.execute(
        """
        UPDATE groups SET all_fail = (r_mean <= lo.lo + 1e-12)
        FROM (SELECT run, min(r_mean) AS lo FROM groups GROUP BY run) lo
        WHERE groups.run = lo.run AND groups.n_s = 0
        """
    )
    return group_diversity


def step_sql() -> str:
    """Per run x step x split x condition (and pooled over conditions), every registered signal by name:
    the aggregates over the group table first, then the derived signals over those."""
    specs = list(SIGNALS.values())
    first = [f"{sql} AS {name}" for name, sql in HELPERS.items()] + [
        f"CAST(({s.sql}) AS {s.dtype}) AS {s.name}" for s in specs if not s.derived
    ]
    second = [f"CAST(({s.sql}) AS {s.dtype}) AS {s.name}" if s.derived else s.name for s in specs]
    nl = ",\n                   "
    return f"""
        WITH s AS (
            SELECT run, step, split, COALESCE(condition, '{POOLED}') AS condition,
                   {nl.join(first)}
            FROM groups WHERE step BETWEEN $lo AND $hi
            GROUP BY GROUPING SETS ((run, step, split, condition), (run, step, split))
        )
        SELECT run, step, split, condition,
               {nl.join(second)}
        FROM s
        ORDER BY run, split, condition, step
    """
