"""The step-signal registry: every signal declared once, by name, as a `SignalSpec`.

The step SQL (`rlaudit.signals.compute`), the metrics-only table, `STEP_COLUMNS`, `signal_columns()`
(the judgement's axis labels) and docs/metrics.md (`metrics_markdown`) are generated from `SIGNALS`;
nothing lists signal columns by position. A detector that needs a new aggregate registers it in its
own module with `register_signal`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

PASS_AT_K = (2, 4, 8, 16, 32, 64)
POOLED = "*"  # the `condition` value of rows pooled over conditions
UNLABELLED = "all"  # the `split` / `condition` value of rows that carry no label
KEYS = ("run", "step", "split", "condition")
"""The key columns of `Signals.steps`; every other column is a registered signal."""
HELPERS = {"sizes": "list(n_s) FILTER (WHERE n_s > 0)"}
"""First-pass columns that are not signals but that derived signals may read: `sizes`, the list of the
step's group sizes (rollouts with known success)."""
GROUP_COLUMNS = (
    *("n", "n_r", "r_sum", "r_sq", "r_mean", "zero_std", "n_s", "c", "s_rate", "all_fail"),
    *("entropy", "length", "unique_frac", "distinct_1", "distinct_2", "pairwise_sim"),
    *("n_probe", "probe_sum"),
)
"""Columns of the per-group table a signal's `sql` aggregates over (one row per GRPO group): rollouts
`n`, scored rollouts `n_r`, reward sum `r_sum`, sum of squares `r_sq`, mean `r_mean`, `zero_std`
(rewards do not vary, at least 2 scored), rollouts with known success `n_s`, successes `c`, success rate
`s_rate`, `all_fail` (every sample failed, or sits at the run's lowest reward when success is unknown),
mean token `entropy`, mean `length`, `unique_frac` (distinct completions / rollouts: one repeated
completion is `round(unique_frac * n) == 1`), `distinct_1`, `distinct_2`, `pairwise_sim` (the last three
on a sample of groups only, NULL elsewhere), and the live probe's scored rollouts `n_probe` and their
score sum `probe_sum` (`rlaudit.training.live_probe`; 0 and NULL where nothing was scored)."""

COMPONENTS = "components"
"""The `signal` of findings about the per-component reward means (`Signals.components`, a judgement's
`sections.signals.components`): not a step signal, the reward-components plot."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DTYPES = {"DOUBLE": pa.float64(), "BIGINT": pa.int64()}


@dataclass(frozen=True)
class SignalSpec:
    """One step signal: a column of `Signals.steps`.

    `sql` is a DuckDB aggregate over the per-group table (`GROUP_COLUMNS`), evaluated per run x step x
    split x condition; with `derived=True` it is instead an expression over the other (non-derived)
    signals of the same row, by name, and `HELPERS`. `metrics` is its expression over the `metrics` view
    of metrics-only stores (`rlaudit.records.METRICS_SCHEMA`); None leaves it NULL there. `trl` is the
    name TRL's GRPOTrainer logs the same quantity under, when it logs it. Names and SQL come from code,
    never from user input.
    """

    name: str
    sql: str
    doc: str
    unit: str
    dtype: str = "DOUBLE"
    """DuckDB type the value is cast to: DOUBLE or BIGINT."""
    trl: str | None = None
    derived: bool = False
    metrics: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in KEYS or self.name in HELPERS:
            raise ValueError(
                f"signal name {self.name!r} must be lower_snake_case and not one of {KEYS + tuple(HELPERS)}"
            )
        if self.dtype not in _DTYPES:
            raise ValueError(
                f"signal {self.name!r}: dtype must be one of {sorted(_DTYPES)} (got {self.dtype!r})"
            )
        if not self.doc or not self.unit:
            raise ValueError(f"signal {self.name!r}: give a doc and a unit (they label the report's axes)")


SIGNALS: dict[str, SignalSpec] = {}
"""Every step signal by name, in registration order (the column order of `Signals.steps`)."""


def register_signal(spec: SignalSpec) -> SignalSpec:
    """Add `spec` to `SIGNALS`. Registering an equal spec again is a no-op (a module imported twice);
    another spec under a taken name is an error."""
    old = SIGNALS.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(f"signal {spec.name!r} is already registered with another definition; rename yours")
    SIGNALS[spec.name] = spec
    return spec


def step_columns() -> tuple[str, ...]:
    """The signal columns of `Signals.steps` (every registered signal, in registration order)."""
    return tuple(SIGNALS)


def signal_columns() -> dict[str, dict[str, str | None]]:
    """`{name: {"doc", "unit", "trl"}}` of every step signal: the judgement's `sections.signals.columns`."""
    return {s.name: {"doc": s.doc, "unit": s.unit, "trl": s.trl} for s in SIGNALS.values()}


_GROUPS_FRAC = "fraction of groups"
for _spec in (
    SignalSpec("n_rollouts", "sum(n)", "rollouts at this step", "rollouts", dtype="BIGINT"),
    SignalSpec("n_groups", "count(*)", "GRPO groups at this step", "groups", dtype="BIGINT"),
    SignalSpec("group_size", "median(n)", "median rollouts per group", "rollouts"),
    SignalSpec(
        "reward_mean",
        "sum(r_sum) / nullif(sum(n_r), 0)",
        "mean total reward (unscored rollouts skipped)",
        "reward",
        trl="reward",
        metrics="reward_mean",
    ),
    SignalSpec(
        "reward_std",
        "sqrt(greatest((sum(r_sq) - pow(sum(r_sum), 2) / nullif(sum(n_r), 0)) / nullif(sum(n_r) - 1, 0), 0))",
        "sample standard deviation of the total reward over the step's scored rollouts (as TRL's)",
        "reward",
        trl="reward_std",
        metrics="reward_std",
    ),
    SignalSpec(
        "frac_reward_zero_std",
        "avg(zero_std::INT)",
        "fraction of groups whose rewards do not vary: their GRPO advantage is 0",
        _GROUPS_FRAC,
        trl="frac_reward_zero_std",
        metrics="frac_zero_std",  # the metrics store's column (METRICS_SCHEMA), kept for stores on disk
    ),
    SignalSpec(
        "frac_all_fail",
        "avg((zero_std AND all_fail)::INT)",
        "zero-variance groups in which every sample failed",
        _GROUPS_FRAC,
    ),
    SignalSpec(
        "frac_all_pass",
        "avg((zero_std AND NOT all_fail)::INT)",
        "zero-variance groups in which every sample passed",
        _GROUPS_FRAC,
    ),
    SignalSpec(
        "expected_homogeneous",
        "list_avg(list_transform(sizes, lambda g: pow(pass_rate, g) + pow(1 - pass_rate, g)))",
        "zero-variance groups chance predicts at the step's pass rate p for groups of G independent "
        "samples: p^G + (1-p)^G",
        _GROUPS_FRAC,
        derived=True,
    ),
    SignalSpec(
        "expected_all_fail",
        "list_avg(list_transform(sizes, lambda g: pow(1 - pass_rate, g)))",
        "all-fail groups chance predicts: (1-p)^G",
        _GROUPS_FRAC,
        derived=True,
    ),
    SignalSpec(
        "pass_rate",
        "sum(c) / nullif(sum(n_s), 0)",
        "pass@1: mean success, when success is known (`correct`, or binary rewards)",
        "fraction of rollouts",
    ),
    *(
        SignalSpec(
            f"pass_at_{k}",
            f"""avg(CASE WHEN n_s < {k} THEN NULL WHEN n_s - c < {k} THEN 1.0
                    ELSE greatest(0.0, 1 - exp(lgamma(n_s - c + 1) - lgamma(n_s - c - {k} + 1)
                                  - lgamma(n_s + 1) + lgamma(n_s - {k} + 1))) END)""",
            f"unbiased pass@{k} within groups (Chen et al. 2021); empty when {k} > group size",
            "probability",
        )
        for k in PASS_AT_K
    ),
    SignalSpec(
        "entropy",
        "avg(entropy)",
        "mean token entropy of the completions, when logged (TRL weights tokens; here each completion "
        "counts once)",
        "nats per token",
        trl="entropy",
        metrics="entropy",
    ),
    SignalSpec(
        "unique_frac",
        "avg(unique_frac)",
        "within-group fraction of distinct completions",
        "fraction of completions",
    ),
    SignalSpec(
        "distinct_1",
        "avg(distinct_1)",
        "within-group distinct unigrams / all unigrams (whitespace tokens; sampled groups)",
        "fraction",
    ),
    SignalSpec(
        "distinct_2",
        "avg(distinct_2)",
        "within-group distinct bigrams / all bigrams (whitespace tokens; sampled groups)",
        "fraction",
    ),
    SignalSpec(
        "pairwise_sim",
        "avg(pairwise_sim)",
        "within-group mean Jaccard similarity of the token sets of neighbouring samples (an unbiased "
        "estimate of the mean over all pairs; sampled groups)",
        "Jaccard similarity",
    ),
    SignalSpec(
        "length_mean",
        "sum(length * n) / sum(n)",
        "mean completion length: `n_tokens` when logged (as TRL's), else whitespace words",
        "tokens",
        trl="completions/mean_length",
        metrics="length_mean",
    ),
):
    register_signal(_spec)


# -- docs/metrics.md ------------------------------------------------------------------------------

METRICS_DOC_HEADER = """# Metrics

Generated by `python scripts/metrics_doc.py` from the code: the signal registry
(`rlaudit.signals.SIGNALS`, every detector module imported), the signals each detector declares it
reads, and the live callback's tracker keys (`rlaudit.training.tracker_keys.TRACKER_KEYS`).
`tests/test_signals.py` fails when this file and the code disagree: do not edit it by hand.
"""

SUCCESS_NOTE = """Success: `correct` when logged; else, when a run's rewards take at most two values, the higher one
(a run whose rewards are all 0 or all 1 counts as binary); otherwise unknown (pass metrics empty).
Rows are per run x step x split x condition; `condition = *` pools the conditions of a split, and
`split = all` / `condition = all` mark rollouts logged without a label. The TRL metric is what TRL's
`GRPOTrainer` (TRL 1.16) logs for the same quantity; a metrics-only input (`trainer_state.json`, no
rollouts) fills only"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def metrics_markdown(
    tracker_keys: Sequence[tuple[str, str, str]] = (), read_by: Mapping[str, Sequence[str]] | None = None
) -> str:
    """docs/metrics.md: a table of every registered step signal (name, meaning, unit, TRL name and, with
    `read_by` (signal -> detector names), the detectors that read it), then one of the tracker keys
    given as `(key, meaning, unit)` (the live callback's `TRACKER_KEYS`)."""
    by = "| read by " if read_by is not None else ""
    lines = [
        METRICS_DOC_HEADER,
        "## Step signals",
        "",
        "Columns of `Signals.steps` and of a judgement's `sections.signals.steps`.",
        "",
        f"| signal | meaning | unit | TRL metric {by}|",
        "|---|---|---|---|" + ("---|" if by else ""),
    ]
    for s in SIGNALS.values():
        trl = f"`{s.trl}`" if s.trl else ""
        row = f"| `{s.name}` | {_cell(s.doc)} | {_cell(s.unit)} | {trl} |"
        if read_by is not None:
            row += " " + ", ".join(f"`{d}`" for d in read_by.get(s.name, ())) + " |"
        lines.append(row)
    from_metrics = ", ".join(f"`{s.name}`" for s in SIGNALS.values() if s.metrics)
    lines += ["", f"{SUCCESS_NOTE} {from_metrics}.", ""]
    if tracker_keys:
        lines += [
            "## Tracker keys",
            "",
            "What `MonitorCallback` logs through the trainer's own metrics (TensorBoard, W&B, trackio) after",
            "each detector pass; `<split>` is each split of the run (`all` when unlabelled).",
            "",
            "| key | meaning | unit |",
            "|---|---|---|",
            *(f"| `{k}` | {_cell(doc)} | {_cell(unit)} |" for k, doc, unit in tracker_keys),
            "",
        ]
    return "\n".join(lines)
