import json
import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.signals import POOLED, compute_signals


def _signals(tmp_path: Path, rows: list[dict]):
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = RolloutStore(tmp_path / "store")
    ingest(path, store)
    return compute_signals(store)


def _row(signals, step=0, split="all", condition=POOLED) -> dict:
    t = signals.steps
    mask = pc.and_(
        pc.and_(pc.equal(t["step"], step), pc.equal(t["split"], split)), pc.equal(t["condition"], condition)
    )
    (row,) = t.filter(mask).to_pylist()
    return row


def _group(
    step: int, prompt: str, rewards: list[float], completions: list[str] | None = None, **extra
) -> list[dict]:
    completions = completions or [f"answer {i}" for i in range(len(rewards))]
    return [
        {"step": step, "prompt": prompt, "completion": c, "reward": r, **extra}
        for r, c in zip(rewards, completions, strict=True)
    ]


def test_zero_variance_groups_split_into_all_fail_and_all_pass(tmp_path):
    rows = _group(0, "a", [0, 0, 0, 0]) + _group(0, "b", [1, 1, 1, 1]) + _group(0, "c", [0, 1, 0, 1])
    r = _row(_signals(tmp_path, rows))
    assert r["n_groups"] == 3 and r["n_rollouts"] == 12
    assert r["frac_reward_zero_std"] == pytest.approx(2 / 3)
    assert r["frac_all_fail"] == pytest.approx(1 / 3)
    assert r["frac_all_pass"] == pytest.approx(1 / 3)
    assert r["pass_rate"] == pytest.approx(6 / 12)
    # chance at p = 0.5 for groups of 4: 0.5^4 + 0.5^4
    assert r["expected_homogeneous"] == pytest.approx(0.125)
    assert r["expected_all_fail"] == pytest.approx(0.0625)
    # TRL's reward_std: the sample standard deviation (Bessel-corrected) over the step's rollouts
    assert r["reward_std"] == pytest.approx(float(np.std([0] * 6 + [1] * 6, ddof=1)))


def test_unbiased_pass_at_k_matches_the_formula(tmp_path):
    # n = 8 samples, c = 2 correct: pass@k = 1 - C(6, k) / C(8, k)
    rows = _group(0, "a", [1, 1, 0, 0, 0, 0, 0, 0])
    r = _row(_signals(tmp_path, rows))
    for k in (2, 4, 8):
        assert r[f"pass_at_{k}"] == pytest.approx(1 - math.comb(6, k) / math.comb(8, k))
    assert r["pass_at_16"] is None  # k larger than the group


def test_diversity_within_groups(tmp_path):
    rows = _group(0, "a", [0, 0, 0, 0], ["x y", "x y", "x y", "x y"]) + _group(
        0, "b", [0, 0, 1, 1], ["a b", "c d", "e f", "g h"]
    )
    r = _row(_signals(tmp_path, rows))
    assert r["unique_frac"] == pytest.approx((1 / 4 + 1) / 2)
    assert r["distinct_1"] == pytest.approx((2 / 8 + 1) / 2)
    assert r["distinct_2"] == pytest.approx((1 / 4 + 1) / 2)
    assert r["pairwise_sim"] == pytest.approx((1 + 0) / 2)
    assert r["length_mean"] == pytest.approx(2)


def test_nan_rewards_are_unscored_not_zero(tmp_path):
    rows = [*_group(0, "a", [1.0, 0.0]), {"step": 0, "prompt": "a", "completion": "z", "reward": None}]
    r = _row(_signals(tmp_path, rows))
    assert r["reward_mean"] == pytest.approx(0.5)
    assert r["n_rollouts"] == 3


def test_correct_field_defines_success_over_shaped_rewards(tmp_path):
    rows = [
        {"step": 0, "prompt": "a", "completion": f"c{i}", "reward": 0.3 * i, "correct": i == 2}
        for i in range(4)
    ]
    signals = _signals(tmp_path, rows)
    assert signals.success_known
    assert _row(signals)["pass_rate"] == pytest.approx(0.25)


def test_non_binary_rewards_without_correct_leave_pass_unknown(tmp_path):
    rows = [{"step": 0, "prompt": "a", "completion": f"c{i}", "reward": 0.3 * i} for i in range(4)]
    signals = _signals(tmp_path, rows)
    assert not signals.success_known
    assert _row(signals)["pass_rate"] is None


def test_conditions_are_pooled_and_separate(tmp_path):
    rows = _group(0, "a", [1, 1], split="target", condition="train_cue") + _group(
        0, "b", [0, 0], split="target", condition="deploy_cue"
    )
    signals = _signals(tmp_path, rows)
    assert _row(signals, split="target", condition="train_cue")["pass_rate"] == 1
    assert _row(signals, split="target", condition="deploy_cue")["pass_rate"] == 0
    assert _row(signals, split="target")["pass_rate"] == 0.5
    steps, values = signals.series("pass_rate", split="target")
    assert list(steps) == [0] and np.allclose(values, [0.5])


def test_families_mask_numbers(tmp_path):
    rows = []
    for step in range(3):
        rows += _group(step, f"[t] {step}+{step + 1}=", [0, 0], ["7", "7"])
        rows += _group(step, f"[c] {step}+{step + 2}=", [1, 0], ["1", "2"])
    fams = {r["family"]: r for r in _signals(tmp_path, rows).families.to_pylist()}
    assert set(fams) == {"[t] #+#=", "[c] #+#="}
    assert fams["[t] #+#="]["n_groups"] == 3 and fams["[t] #+#="]["frac_all_fail"] == 1.0
    assert fams["[c] #+#="]["pass_rate"] == pytest.approx(0.5)


def test_reward_components_per_step(tmp_path):
    rows = [
        {"step": s, "prompt": "a", "completion": "x", "reward": 1.5, "rewards": {"acc": 1.0, "fmt": 0.5}}
        for s in range(2)
    ]
    comps = _signals(tmp_path, rows).components.to_pylist()
    assert {(c["step"], c["component"], c["mean"]) for c in comps} == {
        (0, "acc", 1.0),
        (0, "fmt", 0.5),
        (1, "acc", 1.0),
        (1, "fmt", 0.5),
    }


# -- the registry ---------------------------------------------------------------------------------


def test_step_columns_follow_the_registry(tmp_path):
    from rlaudit.signals import KEYS, SIGNALS, STEP_COLUMNS, signal_columns

    signals = _signals(tmp_path, _group(0, "a", [0, 1]))
    assert tuple(signals.steps.column_names) == KEYS + tuple(SIGNALS) == KEYS + STEP_COLUMNS
    columns = signal_columns()
    assert list(columns) == list(SIGNALS)
    assert all(c["doc"] and c["unit"] for c in columns.values())
    assert columns["frac_reward_zero_std"]["trl"] == "frac_reward_zero_std"


def test_a_registered_signal_is_computed_by_name(tmp_path, monkeypatch):
    """A new aggregate over the group table, and a derived signal reading it: no SQL edited."""
    from rlaudit.signals import SIGNALS, STEP_COLUMNS, SignalSpec

    worst = SignalSpec("worst_group", "min(r_mean)", "lowest group mean reward", "reward")
    above = SignalSpec(
        "mean_above_worst", "reward_mean - worst_group", "mean minus worst", "reward", derived=True
    )
    for spec in (worst, above):
        monkeypatch.setitem(SIGNALS, spec.name, spec)  # removed again after the test
    from rlaudit.signals import STEP_COLUMNS as now

    assert now == (*STEP_COLUMNS, "worst_group", "mean_above_worst")
    r = _row(_signals(tmp_path, _group(0, "a", [0, 0]) + _group(0, "b", [1, 1])))
    assert r["worst_group"] == 0 and r["mean_above_worst"] == pytest.approx(0.5)


def test_registering_a_taken_name_or_a_bad_spec_is_refused():
    from rlaudit.signals import SIGNALS, SignalSpec, register_signal

    assert register_signal(SIGNALS["pass_rate"]) is SIGNALS["pass_rate"]  # the same spec again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_signal(SignalSpec("pass_rate", "avg(s_rate)", "another", "fraction"))
    for bad in ("Pass", "step", "a-b", "x; DROP TABLE groups"):
        with pytest.raises(ValueError, match="lower_snake_case"):
            SignalSpec(bad, "avg(n)", "doc", "unit")
    with pytest.raises(ValueError, match="dtype"):
        SignalSpec("ok_name", "avg(n)", "doc", "unit", dtype="TEXT")


def test_trl_names_are_metrics_trl_logs():
    """Each spec's `trl` is a key TRL's GRPOTrainer really logs (read from the installed source)."""
    import re
    from pathlib import Path

    trl = pytest.importorskip("trl")
    from rlaudit.signals import SIGNALS

    source = (Path(trl.__file__).parent / "trainer" / "grpo_trainer.py").read_text(encoding="utf-8")
    logged = set(re.findall(r'_metrics\[mode\]\["([^"]+)"\]', source))
    named = {s.trl for s in SIGNALS.values() if s.trl}
    assert named and named <= logged, named - logged


def test_metrics_only_signals_have_every_registered_column(tmp_path):
    from rlaudit.signals import KEYS, SIGNALS

    out = tmp_path / "out"
    out.mkdir()
    log = [{"step": 1, "reward": 0.5, "reward_std": 0.1, "frac_reward_zero_std": 0.25}]
    (out / "trainer_state.json").write_text(json.dumps({"log_history": log, "global_step": 1}))
    store = RolloutStore(tmp_path / "store")
    ingest(out, store)
    signals = compute_signals(store)
    assert signals.metrics_only and tuple(signals.steps.column_names) == KEYS + tuple(SIGNALS)
    (r,) = signals.to_rows()
    assert (r["reward_mean"], r["frac_reward_zero_std"], r["pass_rate"]) == (0.5, 0.25, None)


# -- docs/metrics.md ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_docs_metrics_md_is_what_the_code_generates():
    import runpy

    pytest.importorskip("transformers")
    render = runpy.run_path(str(ROOT / "scripts" / "metrics_doc.py"))["render"]
    text = render()
    assert (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8") == text, (
        "docs/metrics.md is out of date: run python scripts/metrics_doc.py"
    )
    assert "`frac_reward_zero_std`" in text and "`rlaudit/verdict`" in text


def test_tracker_keys_are_what_the_callback_logs():
    """Every metric `MonitorCallback` writes after a pass (`tracker_keys.log_judgement`) is declared in
    TRACKER_KEYS (and so documented)."""
    import re
    from collections import defaultdict

    pytest.importorskip("transformers")
    from rlaudit.monitor import EXAMPLE_LOG, run_monitor
    from rlaudit.training.tracker_keys import TRACKER_KEYS, log_judgement

    judgement = run_monitor([EXAMPLE_LOG])
    metrics: defaultdict[str, list[float]] = defaultdict(list)
    log_judgement(metrics, judgement, [])
    logged = set(metrics)
    patterns = [
        re.compile(re.escape(k).replace(re.escape("<split>"), "[^/]+") + "$") for k, _, _ in TRACKER_KEYS
    ]
    assert logged and all(any(p.match(k) for p in patterns) for k in logged), logged
    assert {"rlaudit/verdict", "rlaudit/target/frac_reward_zero_std"} <= logged
