"""Computing the signals of a store: two DuckDB SQL passes, generated from the registry.

First one row per GRPO group (`group_table`), then per run x step x split x condition and per run x
step x split pooled over conditions (`condition = '*'`): every registered signal by name (`step_sql`).
Both stream: DuckDB spills to disk past `SignalsConfig.memory_limit`.
"""

from __future__ import annotations

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
from rlaudit.signals.registry import POOLED, SIGNALS, UNLABELLED
from rlaudit.signals.tables import group_table, split_sql, step_table, streamed

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
    time (`step_table`): 625,000 at once ran out of DuckDB memory under 1GB (10M rollouts, 16 per step)."""
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
        group_diversity = group_table(con, cfg, reuse.group_diversity if reuse else None)
        steps = step_table(con, cfg)
        families = con.sql(
            """
            SELECT run, family, count(*) AS n_groups, count(DISTINCT step) AS n_steps,
                   min(step) AS first_step, max(step) AS last_step,
                   avg(s_rate) AS pass_rate, avg(r_mean) AS reward_mean,
                   -- spread over the family's groups: how far its pooled level is from luck
                   stddev_samp(s_rate) AS pass_rate_sd, stddev_samp(r_mean) AS reward_mean_sd,
                   avg(CASE WHEN zero_std THEN all_fail::INT ELSE 0 END) AS frac_all_fail,
                   avg(zero_std::INT) AS frac_zero_std, avg(unique_frac) AS unique_frac,
                   min(example_prompt) AS example_prompt  -- min, not any_value: the same prompt every pass
            FROM groups GROUP BY run, family ORDER BY run, family
            """
        ).to_arrow_table()
        split = split_sql(cfg)
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
        components = streamed(
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
        component_splits = streamed(
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
