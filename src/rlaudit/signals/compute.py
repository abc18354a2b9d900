"""Computing the signals of a store: two DuckDB SQL passes, generated from the registry.

First one row per GRPO group (`_group_table`), then per run x step x split x condition and per run x
step x split pooled over conditions (`condition = '*'`): every registered signal by name (`_step_sql`).
Both stream: DuckDB spills to disk past `SignalsConfig.memory_limit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rlaudit.records import RolloutStore
from rlaudit.records.memory import (
    MEMORY_ENV,
    MemoryLimitError,
    limited_connection,
    memory_limit,
    out_of_memory,
)
from rlaudit.signals.diversity import update_diversity
from rlaudit.signals.registry import HELPERS, POOLED, SIGNALS, UNLABELLED

__all__ = ["MEMORY_ENV", "Signals", "SignalsConfig", "SignalsMemoryError", "compute_signals"]


class SignalsMemoryError(MemoryLimitError):
    """DuckDB hit `SignalsConfig.memory_limit` even with spilling: a limit the user can raise, not a
    bug, so the CLI prints this one line (it names the option) and exits 3 without a traceback."""


@dataclass
class SignalsConfig:
    """How signals are computed."""

    memory_limit: str = field(default_factory=memory_limit)
    """DuckDB memory cap (default: `$RLAUDIT_MEMORY_LIMIT`, else 1GB); larger stores spill to a temp
    directory inside the store. The environment variable is how a CLI user raises it."""
    threads: int = 2
    family_mask: str = r"[0-9]+"
    """Regex masked out of prompts to group them into families when there are no split labels
    (numbers vary between prompts of one template); `#` replaces each match."""
    family_prefix_chars: int = 200
    """Families compare this many characters of the masked prompt."""
    diversity_groups: int = 8
    """Groups per run x step x split x condition whose completions are tokenised for distinct-1/2 and
    pairwise similarity (the costly signals); the step value is the mean over this sample."""
    diversity_rollouts: int = 128
    """...and at most this many rollouts per run x step x split x condition (whole groups, at least
    one): the cap that still bites when groups are few and large (`signals.diversity`)."""
    diversity_run_rollouts: int = 50_000
    """...and at most about this many per run: past it, every k-th logged step only (the others NULL),
    so the costliest signals stay bounded on runs of tens of thousands of steps (`signals.diversity`).
    50k keeps 3,000+ sampled steps at 16 rollouts per step (about 100 at 512 sampled per step). At
    200k the tokenising was still half of `rlaudit monitor`'s CPU on the 1M-rollout benchmark logs;
    at 50k the findings on both 1M logs (many-steps: stride 10; few-steps: stride 5) are the same as
    at 200k, and every organism run (1,920 rollouts) and test run is far below it (docs/benchmarks.md,
    "Monitor cost on real run shapes")."""
    diversity_chunk_rollouts: int = 100_000
    """The diversity signals are computed over contiguous step ranges of about this many sampled
    rollouts at a time, so their memory is bounded by the chunk, not the run (`signals.diversity`)."""
    step_chunk_steps: int = 50_000
    """The step table is aggregated over ranges of steps holding about this many run x step pairs at a
    time (`_step_table`): 625,000 at once ran out of DuckDB memory under 1GB (10M rollouts, 16 per step)."""
    top_tokens: int = 5000
    """With several runs, each run's completion-token distribution (numbers masked as for families, so
    runs on different prompts compare by form) is kept to this many most common tokens."""
    ignore_splits: bool = False
    """Compute the signals as if no rollout carried a `split` label: the unlabelled view the monitor
    also judges a labelled store in, so that labels never make it less careful (`rlaudit.monitor`)."""


@dataclass
class Signals:
    """The signals of one store: `steps` (the `KEYS` and one column per registered signal),
    `families` (per run x prompt family: groups, pass rate, all-fail fraction, diversity, step span),
    `components` (per run x step x reward component: mean) and what the data could support."""

    steps: pa.Table
    families: pa.Table
    components: pa.Table
    tokens: pa.Table | None = None  # per run x token: count over the last half of the run (multi-run only)
    runs: list[str] = field(default_factory=list)
    labelled: bool = False  # any `split` labels
    success_known: bool = False  # pass metrics available
    metrics_only: bool = False  # no rollouts: built from trainer metrics (weaker)
    component_splits: pa.Table | None = None
    """Per run x step x split x reward component: `mean`, `earned` (share of rollouts paid a positive
    value of it), `n` rollouts, `varied` (share of its `n_groups` GRPO groups paid it unequally: the
    groups where it moved an advantage); None for metrics-only inputs. `components` pools the splits."""
    group_diversity: pa.Table | None = None
    """Per sampled run x step x group: distinct-1/2 and pairwise similarity, the costly values a
    second pass over the same store reuses (`compute_signals(reuse=...)`)."""

    def is_labelled(self, run: str) -> bool:
        """Whether `run` carries split labels (runs of one store may differ)."""
        return self.splits(run) != [UNLABELLED]

    def splits(self, run: str | None = None) -> list[str]:
        """The splits logged (by `run`), sorted; cached per `steps` table like `series` (detectors ask
        hundreds of times, and each answer was a scan of the step table)."""
        if self._splits_of is not self.steps:
            self._splits.clear()
            self._splits_of = self.steps
        if run not in self._splits:
            t = self.steps if run is None else self.steps.filter(pc.equal(self.steps["run"], run))
            self._splits[run] = sorted(set(pc.unique(t.column("split")).to_pylist()))
        return list(self._splits[run])

    _splits: dict[str | None, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _splits_of: pa.Table | None = field(default=None, init=False, repr=False, compare=False)

    _series_rows: dict[tuple[str | None, str | None, str], tuple[pa.Array, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _series_of: pa.Table | None = field(default=None, init=False, repr=False, compare=False)

    def series(
        self, column: str, *, run: str | None = None, split: str | None = None, condition: str = POOLED
    ) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one signal, sorted by step; NaN where it is undefined.

        The detectors call this ~1,300 times per run, and filtering the whole step table each time
        was linear in steps per call; the row indices of each (run, split, condition), in step order,
        are found once per `steps` table and reused (indices, not copies of the table: it is large at
        tens of thousands of steps), so a call only gathers its column. Fresh arrays every call."""
        if column not in self.steps.column_names:
            why = "registered after these signals were computed" if column in SIGNALS else "not registered"
            raise KeyError(f"signal {column!r} is not in these signals ({why}; see rlaudit.signals.SIGNALS)")
        rows, steps = self._rows(run, split, condition)
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        values = self.steps.column(column).take(rows).to_numpy().astype(float)
        return steps.copy(), values

    def _rows(self, run: str | None, split: str | None, condition: str) -> tuple[pa.Array, np.ndarray]:
        """The row indices of one (run, split, condition) in step order, and their steps; cached per
        `steps` table (a Signals whose `steps` is replaced starts a new cache)."""
        if self._series_of is not self.steps:
            self._series_rows.clear()
            self._series_of = self.steps
        key = (run, split, condition)
        if key not in self._series_rows:
            t = self.steps.select(["run", "split", "condition", "step"])
            t = t.append_column("_row", pa.array(np.arange(t.num_rows, dtype=np.int64)))
            t = t.filter(pc.equal(t["condition"], condition))
            if run is not None:
                t = t.filter(pc.equal(t["run"], run))
            if split is not None:
                t = t.filter(pc.equal(t["split"], split))
            if t.num_rows and run is None and len(set(t.column("run").to_pylist())) > 1:
                raise ValueError("several runs in these signals: pass run=")
            t = t.sort_by("step")
            self._series_rows[key] = (t.column("_row").combine_chunks(), t.column("step").to_numpy())
        return self._series_rows[key]

    def to_rows(self) -> list[dict]:
        return self.steps.to_pylist()


def _success_sql() -> str:
    return """
        CASE
            WHEN correct IS NOT NULL THEN correct::INT
            WHEN info.binary01 THEN (reward >= 1)::INT
            WHEN info.n_vals = 2 THEN (reward = info.hi)::INT
            ELSE NULL
        END
    """


def compute_signals(
    store: RolloutStore, cfg: SignalsConfig | None = None, *, reuse: Signals | None = None
) -> Signals:
    """Compute all signals of the rollouts (and metrics-only sources) in `store`.

    `reuse`: signals of the same, unchanged store computed before (the monitor's labelled pass when it
    computes the unlabelled view): what does not depend on split labels (each sampled group's
    diversity, the per-run token counts) is taken from it, not computed again."""
    cfg = cfg or SignalsConfig()
    try:
        return _compute(store, cfg, reuse)
    except duckdb.OutOfMemoryException as e:
        raise SignalsMemoryError(str(out_of_memory(e, cfg.memory_limit, "computing signals"))) from e


def _compute(store: RolloutStore, cfg: SignalsConfig, reuse: Signals | None) -> Signals:
    con = limited_connection(cfg.memory_limit)
    try:
        con.execute(f"SET threads={int(cfg.threads)}")
        con.execute("SET temp_directory = ?", [(store.path / ".duckdb_tmp").as_posix()])
        con.execute("SET preserve_insertion_order=false")
        store.connect(con)
        if store.is_empty():
            return _metrics_only(con)
        group_diversity = _group_table(con, cfg, reuse.group_diversity if reuse else None)
        steps = _step_table(con, cfg)
        families = con.sql(
            """
            SELECT run, family, count(*) AS n_groups, count(DISTINCT step) AS n_steps,
                   min(step) AS first_step, max(step) AS last_step,
                   avg(s_rate) AS pass_rate, avg(r_mean) AS reward_mean,
                   avg(CASE WHEN zero_std THEN all_fail::INT ELSE 0 END) AS frac_all_fail,
                   avg(zero_std::INT) AS frac_zero_std, avg(unique_frac) AS unique_frac,
                   any_value(example_prompt) AS example_prompt
            FROM groups GROUP BY run, family ORDER BY run, family
            """
        ).to_arrow_table()
        split = _split_sql(cfg)
        con.execute(
            f"""
            CREATE TEMP TABLE component_rows AS
            SELECT run, step, {split} AS split, "group", e.key AS component, e.value AS value
            FROM (SELECT run, step, split, "group", unnest(map_entries(rewards)) AS e
                  FROM rollouts WHERE rewards IS NOT NULL)
            """
        )
        # earned: the share of rollouts whose value of the component is positive (the rate at which RL
        # sees it paid); max: the most one rollout was paid; n: rollouts.
        components = _streamed(
            con,
            """
            SELECT run, step, component, avg(value) AS mean, max(value) AS max, avg((value > 0)::INT) AS earned,
                   count(*) AS n
            FROM component_rows GROUP BY run, step, component ORDER BY run, component, step
            """,
            ["run", "component", "step"],
        )
        # varied: the share of GRPO groups whose rollouts were paid the component unequally. GRPO
        # normalises advantages within a group, so a component paid alike to a whole group (to all or to
        # none) changes no advantage: it is no learning signal, whatever it pays.
        component_splits = _streamed(
            con,
            """
            WITH g AS (
                SELECT run, step, split, component, count(value) AS n, sum(value) AS total,
                       sum((value > 0)::INT) AS paid, (max(value) > min(value))::INT AS varied
                FROM component_rows GROUP BY run, step, split, "group", component
            )
            SELECT run, step, split, component, sum(total) / sum(n) AS mean, sum(paid) / sum(n) AS earned,
                   sum(n) AS n, avg(varied) AS varied, count(*) AS n_groups
            FROM g GROUP BY run, step, split, component ORDER BY run, split, component, step
            """,
            ["run", "split", "component", "step"],
        )
        tokens = reuse.tokens if reuse else None
        if tokens is None and len(set(steps.column("run").to_pylist())) > 1:
            # con.sql, not execute: DuckDB warns that Arrow from a DB-API result copies the rows.
            tokens = con.sql(
                f"""
                WITH mid AS (SELECT run, (min(step) + max(step)) / 2 AS mid FROM rollouts GROUP BY run),
                t AS (SELECT ro.run, regexp_replace(unnest(string_split(trim(completion), ' ')), $mask, '#', 'g')
                             AS token
                      FROM rollouts ro JOIN mid ON ro.run = mid.run WHERE ro.step >= mid.mid)
                SELECT run, token, count(*) AS n FROM t GROUP BY run, token
                QUALIFY row_number() OVER (PARTITION BY run ORDER BY n DESC, token) <= {int(cfg.top_tokens)}
                """,
                params={"mask": cfg.family_mask},
            ).to_arrow_table()
        labelled = not cfg.ignore_splits and bool(
            con.execute("SELECT count(*) FROM rollouts WHERE split IS NOT NULL").fetchall()[0][0]
        )
        success_known = not bool(pc.all(pc.is_null(steps["pass_rate"])).as_py())
        runs = sorted(set(steps.column("run").to_pylist()))
        return Signals(
            steps,
            families,
            components,
            tokens,
            runs,
            labelled,
            success_known,
            False,
            component_splits,
            group_diversity,
        )
    finally:
        con.close()


def _step_table(con: duckdb.DuckDBPyConnection, cfg: SignalsConfig) -> pa.Table:
    """The step table, aggregated one range of steps at a time (`SignalsConfig.step_chunk_steps`):
    each step's row depends on its own groups only, so the chunks change no value, and DuckDB's
    aggregate over 312,500 steps per run at once ran out of memory under 1GB."""
    row = con.execute("SELECT min(step), max(step), count(DISTINCT (run, step)) FROM groups").fetchall()[0]
    lo, hi, pairs = int(row[0]), int(row[1]), int(row[2])
    width = max(math.ceil((hi - lo + 1) / max(math.ceil(pairs / max(cfg.step_chunk_steps, 1)), 1)), 1)
    parts = [
        con.sql(_step_sql(), params={"lo": a, "hi": a + width - 1}).to_arrow_reader(_STREAM_ROWS).read_all()
        for a in range(lo, hi + 1, width)
    ]
    return pa.concat_tables(parts).sort_by([(k, "ascending") for k in ("run", "split", "condition", "step")])


def _streamed(con: duckdb.DuckDBPyConnection, sql: str, order: list[str]) -> pa.Table:
    """The result of `sql` as Arrow, fetched in record batches (DuckDB never holds the whole result),
    sorted by the (unique) keys `order`, as its ORDER BY: without `preserve_insertion_order` a streamed
    result's batches may arrive out of order. Why stream: `to_arrow_table` collects the result inside
    DuckDB, under its memory cap and unable to spill, and the step table of 10M rollouts over 312,500
    steps per run (2.5M rows, ~600 MB) ran out of memory under the default 1GB (docs/benchmarks.md,
    "Monitor cost on real run shapes"); streamed, it completes."""
    return con.sql(sql).to_arrow_reader(_STREAM_ROWS).read_all().sort_by([(k, "ascending") for k in order])


_STREAM_ROWS = 65_536
"""Rows per record batch of a streamed result."""


def _split_sql(cfg: SignalsConfig) -> str:
    """The SQL of a rollout's split: its label, or `UNLABELLED` (always, for the unlabelled view)."""
    return f"'{UNLABELLED}'" if cfg.ignore_splits else f"COALESCE(split, '{UNLABELLED}')"


def _group_table(
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
    split = _split_sql(cfg)
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
                   {_success_sql()} AS success,
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
               left(regexp_replace(any_value(prompt), $mask, '#', 'g'), {int(cfg.family_prefix_chars)})
                   AS family,
               left(any_value(prompt), 300) AS example_prompt
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


def _step_sql() -> str:
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


def _metrics_only(con: duckdb.DuckDBPyConnection) -> Signals:
    """Signals from trainer metrics only: the signals whose spec names a `metrics` column, NULL for the rest."""
    select = ", ".join(f"CAST(({s.metrics or 'NULL'}) AS {s.dtype}) AS {s.name}" for s in SIGNALS.values())
    steps = con.sql(
        f"""SELECT run, step, '{UNLABELLED}' AS split, '{POOLED}' AS condition, {select}
            FROM metrics ORDER BY run, step"""
    ).to_arrow_table()
    components = con.sql(
        """SELECT run, step, e.key AS component, e.value AS mean
           FROM (SELECT run, step, unnest(map_entries(components)) AS e FROM metrics WHERE components IS NOT NULL)
           ORDER BY run, component, step"""
    ).to_arrow_table()
    families = pa.table({"run": pa.array([], pa.string()), "family": pa.array([], pa.string())})
    runs = sorted(set(steps.column("run").to_pylist()))
    return Signals(
        steps, families, components, None, runs, labelled=False, success_known=False, metrics_only=True
    )
