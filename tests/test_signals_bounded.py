"""The diversity sample bounded in rollouts and computed in chunks, the memory-limit error, and the
cached `Signals.series` (issue 13: runs of tens of thousands of steps)."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.signals import MEMORY_ENV, POOLED, SignalsConfig, SignalsMemoryError, compute_signals
from rlaudit.signals.compute import Signals

DIVERSITY = ["distinct_1", "distinct_2", "pairwise_sim"]


def _same_table(a, b) -> bool:
    """Equal up to float summation order: DuckDB's parallel aggregates add in no fixed order, so a
    mean can differ in its last bit between two passes over the same rows (0.73 vs 0.7300000000000001)."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if pa.types.is_floating(a.schema.field(name).type):
            fx = np.array([np.nan if v is None else v for v in x], dtype=float)
            fy = np.array([np.nan if v is None else v for v in y], dtype=float)
            if not np.allclose(fx, fy, rtol=1e-12, atol=0.0, equal_nan=True):
                return False
        elif x != y:
            return False
    return True


def _store(tmp_path: Path, steps: int = 12, groups: int = 3, size: int = 4) -> RolloutStore:
    """`groups` groups of `size` per step: group 0 repeats one completion, the others vary, so a
    sample that drops or adds a group changes the step means."""
    rows = []
    for step in range(steps):
        for g in range(groups):
            for i in range(size):
                text = "same old answer" if g == 0 else f"w{step} g{g} r{i} tail {i * g} x{step % 3}"
                split = "train" if g % 2 == 0 else "eval"
                rows.append(
                    {
                        "step": step,
                        "prompt": f"p{g} s{step}",
                        "completion": text,
                        "reward": float(i % 2),
                        "split": split,
                    }
                )
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = RolloutStore(tmp_path / "store")
    ingest(path, store)
    return store


def _diversity(signals: Signals) -> dict:
    t = signals.steps.sort_by(
        [("run", "ascending"), ("split", "ascending"), ("condition", "ascending"), ("step", "ascending")]
    )
    return {c: t.column(c).to_pylist() for c in DIVERSITY}


def test_chunking_never_changes_a_value(tmp_path):
    store = _store(tmp_path)
    whole = _diversity(compute_signals(store, SignalsConfig(diversity_chunk_rollouts=10**9)))
    for chunk in (1, 5, 17):
        assert _diversity(compute_signals(store, SignalsConfig(diversity_chunk_rollouts=chunk))) == whole
    assert any(v is not None for v in whole["distinct_1"])


def test_the_sample_is_bounded_in_rollouts_and_deterministic(tmp_path):
    store = _store(tmp_path, groups=4, size=4)  # 2 groups of 4 per step x split
    full = compute_signals(store, SignalsConfig(diversity_rollouts=8))
    one = compute_signals(store, SignalsConfig(diversity_rollouts=4))  # one group per cell
    again = compute_signals(store, SignalsConfig(diversity_rollouts=4))
    assert _diversity(one) == _diversity(again)
    assert _diversity(one) != _diversity(full)
    # each train cell holds group 0 (distinct_1 = 3/12) and group 2; one group alone gives either
    # value, never their mean
    _, d1 = one.series("distinct_1", split="train")
    _, d1_full = full.series("distinct_1", split="train")
    pure = {round(3 / 12, 9)}
    assert all(round(v, 9) not in pure for v in d1_full)
    g2 = compute_signals(store, SignalsConfig(diversity_groups=1))
    assert np.allclose(d1, g2.series("distinct_1", split="train")[1])


def test_a_memory_limit_hit_is_one_error_naming_the_option(tmp_path, monkeypatch):
    store = _store(tmp_path)
    monkeypatch.setenv(MEMORY_ENV, "3GB")
    assert SignalsConfig().memory_limit == "3GB"
    with pytest.raises(SignalsMemoryError, match=MEMORY_ENV):
        compute_signals(store, SignalsConfig(memory_limit="1KB", threads=1))


def test_the_cli_reports_a_memory_limit_in_one_line_exit_3(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rlaudit.cli import app

    log = tmp_path / "run.jsonl"
    _store(tmp_path)  # writes run.jsonl
    monkeypatch.setenv(MEMORY_ENV, "1KB")
    monkeypatch.delenv("RLAUDIT_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["monitor", str(log), "--json"])
    assert result.exit_code == 3
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and MEMORY_ENV in err and "Traceback" not in err
    assert "bug" not in err


def _series_reference(s: Signals, column: str, run: str | None, split: str | None, condition: str):
    """`Signals.series` as it was before the cache: filter the whole table on every call."""
    t = s.steps.filter(pc.equal(s.steps["condition"], condition))
    if run is not None:
        t = t.filter(pc.equal(t["run"], run))
    if split is not None:
        t = t.filter(pc.equal(t["split"], split))
    if t.num_rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    t = t.sort_by("step")
    return t.column("step").to_numpy(), t.column(column).to_numpy(zero_copy_only=False).astype(float)


def test_cached_series_are_the_filtered_ones(tmp_path):
    s = compute_signals(_store(tmp_path))
    conditions = [*sorted(set(s.steps.column("condition").to_pylist())), "absent"]
    for column in ["reward_mean", *DIVERSITY, "pass_rate"]:
        for run in [None, *s.runs]:
            for split in [None, "train", "eval", "nope"]:
                for condition in conditions:
                    for _ in range(2):  # the second call is served from the cache
                        steps, values = s.series(column, run=run, split=split, condition=condition)
                        ref_steps, ref_values = _series_reference(s, column, run, split, condition)
                        assert np.array_equal(steps, ref_steps)
                        assert np.array_equal(values, ref_values, equal_nan=True)
    steps, values = s.series("reward_mean", split="train")
    steps[:] = -1
    values[:] = -1.0
    assert np.array_equal(
        s.series("reward_mean", split="train")[1],
        _series_reference(s, "reward_mean", None, "train", POOLED)[1],
        equal_nan=True,
    )
    s.steps = s.steps.slice(0, 3)  # a replaced table is not served from the old cache
    assert len(s.series("reward_mean", split="train")[0]) <= 3


def test_the_ingest_connection_keeps_the_same_memory_limit(tmp_path, monkeypatch):
    """Ingest (normalising rows in DuckDB) and store reads run under `RLAUDIT_MEMORY_LIMIT` too,
    not only the signals pass."""
    from rlaudit.records.memory import MemoryLimitError, limited_connection

    monkeypatch.setenv(MEMORY_ENV, "300MB")
    con = limited_connection()
    try:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    finally:
        con.close()
    _store(tmp_path)  # writes run.jsonl
    monkeypatch.setenv(MEMORY_ENV, "1KB")
    with pytest.raises(MemoryLimitError, match=MEMORY_ENV):
        ingest(tmp_path / "run.jsonl", RolloutStore(tmp_path / "store2"))


def test_an_unreadable_memory_limit_is_bad_input_exit_2_and_nothing_written(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rlaudit.cli import app

    _store(tmp_path)  # writes run.jsonl
    monkeypatch.setenv(MEMORY_ENV, "lots")
    monkeypatch.delenv("RLAUDIT_DEBUG", raising=False)
    out = tmp_path / "new-store"
    result = CliRunner().invoke(app, ["monitor", str(tmp_path / "run.jsonl"), "--store", str(out), "--json"])
    assert result.exit_code == 2, result.stderr
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and MEMORY_ENV in err and "'lots'" in err
    assert result.stdout == "" and not out.exists()


@pytest.mark.parametrize(
    "cfg", [SignalsConfig(), SignalsConfig(diversity_groups=1), SignalsConfig(diversity_rollouts=4)]
)
def test_the_unlabelled_view_reusing_the_labelled_diversity_changes_no_value(tmp_path, cfg, monkeypatch):
    """The monitor's second (unlabelled) pass takes each sampled group's diversity from the labelled
    pass: every signal comes out as if computed from scratch, and nothing is tokenised again (its
    sample is a subset of the labelled one)."""
    import dataclasses

    import rlaudit.signals.diversity as diversity

    store = _store(tmp_path, groups=5, size=4)
    labelled = compute_signals(store, cfg)
    plain_cfg = dataclasses.replace(cfg, ignore_splits=True)
    fresh = compute_signals(store, plain_cfg)
    # Any tokenising query now fails: the reused pass must not run one.
    monkeypatch.setattr(diversity, "_UPDATE_SQL", "SELECT error('tokenised again')")
    reused = compute_signals(store, plain_cfg, reuse=labelled)
    assert _same_table(reused.steps, fresh.steps)
    assert _same_table(reused.families, fresh.families)
    assert fresh.group_diversity is not None and reused.group_diversity is not None
    assert reused.group_diversity.num_rows > 0
    assert sorted(reused.group_diversity.to_pylist(), key=str) == sorted(
        fresh.group_diversity.to_pylist(), key=str
    )


def test_a_run_past_its_diversity_budget_keeps_every_kth_step_with_unchanged_values(tmp_path):
    store = _store(tmp_path, steps=12, groups=2, size=4)  # 8 rollouts per step, one group per cell
    full = compute_signals(store)
    budget = compute_signals(store, SignalsConfig(diversity_run_rollouts=30))  # 96 sampled: stride 4
    for split in ("train", "eval"):
        steps, d1 = budget.series("distinct_1", split=split)
        _, d1_full = full.series("distinct_1", split=split)
        kept = np.isfinite(d1)
        assert list(steps[kept]) == [0, 4, 8]
        assert np.allclose(d1[kept], d1_full[kept], rtol=1e-12, atol=0.0)
        # the other signals use every group, budget or not
        assert np.array_equal(
            budget.series("unique_frac", split=split)[1], full.series("unique_frac", split=split)[1]
        )
    assert _same_table(compute_signals(store, SignalsConfig(diversity_run_rollouts=96)).steps, full.steps)


def test_the_step_table_in_ranges_of_steps_changes_no_value(tmp_path):
    """Each step's row depends on its own groups only: aggregating ranges of 1 or 3 steps at a time
    (`SignalsConfig.step_chunk_steps`) gives the table of one pass."""
    store = _store(tmp_path, groups=5, size=4)
    whole = compute_signals(store, SignalsConfig(step_chunk_steps=10**9))
    for chunk in (1, 3):
        assert _same_table(compute_signals(store, SignalsConfig(step_chunk_steps=chunk)).steps, whole.steps)
