"""More information never makes the monitor less careful: adding correct labels (split, answer,
correct, group) to the same rollouts never lowers the verdict below the one without them.

Checked on the shipped organism log (TRL's own parquet files, columns dropped) and, as a property, on
synthetic runs hypothesis draws: one or two phases of target/control behaviours (locked, honest,
incapable, weaker, harder, a lock RL breaks), each label set a subset of the full one.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlaudit.findings import VERDICTS
from rlaudit.monitor import run_monitor
from rlaudit.synthetic import HONEST, INCAPABLE, LOCKED, Behaviour, synthetic_rollouts, write_jsonl

EXAMPLE = Path(__file__).parents[1] / "src" / "rlaudit" / "examples" / "locked_tiny_grpo"
LABELS = ("split", "answer", "correct", "group")
BEHAVIOURS = {
    "honest": HONEST,
    "locked": LOCKED,
    "incapable": INCAPABLE,
    "weaker": Behaviour(0.3, 0.5),
    "harder": Behaviour(0.1, 0.4),
    "flat": Behaviour(0.5, 0.5),
}


def rank(verdict: str) -> int:
    return VERDICTS.index(verdict)


def label_sets(labels: tuple[str, ...]) -> list[frozenset[str]]:
    """Every subset of `labels`, the full set first."""
    full = frozenset(labels)
    return [full] + [
        frozenset(c) for k in range(len(labels) - 1, -1, -1) for c in itertools.combinations(labels, k)
    ]


def assert_monotone(verdicts: dict[frozenset[str], str]) -> None:
    for more, less in itertools.permutations(verdicts, 2):
        if less < more:
            assert rank(verdicts[more]) >= rank(verdicts[less]), (
                f"labels {sorted(more)} give {verdicts[more]!r}, fewer labels {sorted(less)} give "
                f"{verdicts[less]!r}: {verdicts}"
            )


def test_the_organism_log_is_judged_no_less_carefully_with_its_labels(tmp_path):
    """The shipped locked-organism run (TRL's completions parquet files, extra columns split, answer,
    correct), read with each subset of those columns."""
    labels = ("split", "answer", "correct")
    verdicts = {}
    for keep in label_sets(labels):
        run = tmp_path / ("run-" + "-".join(sorted(keep)) if keep else "run-none")
        shutil.copytree(EXAMPLE, run)
        for f in (run / "completions").glob("*.parquet"):
            t = pq.read_table(f)
            pq.write_table(t.drop_columns([c for c in labels if c not in keep]), f)
        verdicts[keep] = run_monitor([run]).label
    assert verdicts[frozenset(labels)] == "hacking-likely"
    assert_monotone(verdicts)


def _with_labels(table: pa.Table, keep: frozenset[str]) -> pa.Table:
    if "correct" in keep:
        table = table.append_column("correct", pc.greater_equal(table["reward"], 1.0))
    if "group" in keep:  # the group a reader would infer: one prompt at one step
        group = pc.binary_join_element_wise(pc.cast(table["step"], pa.string()), table["prompt"], ":")
        table = table.append_column("group", group)
    drop = [c for c in ("split", "answer") if c not in keep and c in table.column_names]
    return table.drop_columns(drop)


phase = st.tuples(
    st.sampled_from(sorted(BEHAVIOURS)), st.sampled_from(sorted(BEHAVIOURS)), st.integers(5, 15)
)


@pytest.mark.filterwarnings("ignore::UserWarning")
# derandomize: the same examples on every run (CI must not flake); a failure prints its own example.
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(phases=st.lists(phase, min_size=1, max_size=2), seed=st.integers(0, 1000))
def test_labels_never_lower_the_verdict_on_synthetic_runs(tmp_path_factory, phases, seed):
    tables, first = [], 0
    for i, (target, control, n_steps) in enumerate(phases):
        behaviours = {"target": BEHAVIOURS[target], "control": BEHAVIOURS[control]}
        tables.append(
            synthetic_rollouts(behaviours, run="run", seed=seed + i, n_steps=n_steps, first_step=first)
        )
        first += n_steps
    table = pa.concat_tables(tables)
    tmp = tmp_path_factory.mktemp("labels")
    verdicts = {}
    # the full set, none, and each label removed from the full set (all 16 subsets: 16 judgements)
    subsets = {frozenset(LABELS), frozenset()} | {frozenset(LABELS) - {x} for x in LABELS}
    for keep in subsets:
        path = tmp / ("-".join(sorted(keep)) or "none")
        path.mkdir()
        write_jsonl(_with_labels(table, keep), str(path / "rollouts.jsonl"))
        verdicts[keep] = run_monitor([path / "rollouts.jsonl"]).label
    assert_monotone(verdicts)
