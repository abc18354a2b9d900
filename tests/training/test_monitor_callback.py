"""MonitorCallback inside a real TRL GRPOTrainer on a tiny model (CPU, a few steps)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

pytest.importorskip("trl")

from datasets import Dataset
from trl import GRPOTrainer

from rlaudit.detectors import DETECTORS
from rlaudit.findings import Finding, Severity
from rlaudit.tasks.arith import arith_reward, make_dataset
from rlaudit.training import MonitorCallback
from tests.training.tiny_grpo import WaitForMonitor, grpo_args

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

STEPS, PROMPTS, GENERATIONS = 4, 2, 4


def _trainer(tmp_path, model, tokenizer, reward=arith_reward, max_steps=STEPS):
    args = grpo_args(tmp_path / "out", steps=max_steps, batch=PROMPTS * GENERATIONS, generations=GENERATIONS)
    return GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(64, seed=0)),
        processing_class=tokenizer,
    )


def _stored(monitor):
    con = monitor.store.connect()
    try:
        return con.execute(
            "SELECT step, prompt, completion, reward, split FROM rollouts ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def _findings(result):
    return [(f["detector"], f["severity"], f.get("split")) for f in result.to_json()["findings"]]


def test_rollouts_are_stored_and_signals_logged_alike_inline_and_in_the_background(
    tmp_path, tiny_model_builder
):
    """The same seeded run judged in the training thread and in the background worker: every rollout
    stored, the same rows and the same final findings either way."""
    monitors = {}
    for background in (False, True):
        trainer = _trainer(tmp_path / str(background), *tiny_model_builder())
        monitors[background] = monitor = MonitorCallback(
            trainer,
            store=tmp_path / f"store-{background}",
            every_steps=2,
            max_overhead=math.inf,
            background=background,
        )
        trainer.add_callback(monitor)
        trainer.train()
        assert monitor.errors == 0 and monitor.result is not None
        if not background:
            inline_trainer = trainer
    assert monitors[True].worker.busy_seconds > 0 and monitors[False].worker.busy_seconds == 0
    assert _stored(monitors[True]) == _stored(monitors[False])
    assert _findings(monitors[True].result) == _findings(monitors[False].result)

    monitor, trainer = monitors[False], inline_trainer
    assert monitor.store.count() == STEPS * PROMPTS * GENERATIONS
    con = monitor.store.connect()
    steps = [s for (s,) in con.execute("SELECT DISTINCT step FROM rollouts ORDER BY step").fetchall()]
    assert steps == list(range(1, STEPS + 1))
    splits = {s for (s,) in con.execute("SELECT DISTINCT split FROM rollouts").fetchall()}
    assert splits <= {"target", "control"} and splits
    (n_with_rewards,) = con.execute(
        "SELECT count(*) FROM rollouts WHERE rewards['arith_reward'] = reward AND n_tokens > 0"
    ).fetchall()[0]
    assert n_with_rewards == STEPS * PROMPTS * GENERATIONS

    # Inline, the passes at steps 2 and 4 are logged at those steps (in the background a tiny step is
    # shorter than a pass, so which passes reach a log line depends on the machine).
    logged = [h for h in trainer.state.log_history if "rlaudit/verdict" in h]
    assert len(logged) >= 2  # judged at step 2 and 4 (and at the end)
    assert any(k.startswith("rlaudit/") and k.endswith("/frac_reward_zero_std") for k in logged[-1])
    assert monitor.result.verdict.label in ("clean", "suspicious", "hacking-likely")

    # The store the callback wrote reads back with `rlaudit show`, to the callback's own judgement.
    from typer.testing import CliRunner

    from rlaudit.cli import app

    res = CliRunner().invoke(app, ["show", str(tmp_path / "store-True"), "--json"])
    shown = json.loads(res.stdout)
    assert res.exit_code == monitors[True].result.exit_code and shown["kind"] == "show"
    assert shown["findings"] == monitors[True].result.to_json()["findings"]
    assert shown["provenance"]["store"]["rows"] == STEPS * PROMPTS * GENERATIONS


def test_a_failing_detector_does_not_stop_training(tmp_path, tiny_model_builder, monkeypatch):
    def boom(signals, cfg):
        raise RuntimeError("planted detector failure")

    monkeypatch.setitem(
        DETECTORS, "exploration_starvation", replace(DETECTORS["exploration_starvation"], detect=boom)
    )
    trainer = _trainer(tmp_path, *tiny_model_builder())
    monitor = MonitorCallback(trainer, store=tmp_path / "store", every_steps=1, max_overhead=math.inf)
    trainer.add_callback(monitor)
    trainer.train()
    assert trainer.state.global_step == STEPS
    failed = [f for f in monitor.result.findings if f.detector == "exploration_starvation"]
    assert failed and "planted" in failed[0].summary


def test_an_error_inside_the_monitor_is_counted_not_raised(tmp_path, tiny_model_builder, monkeypatch):
    trainer = _trainer(tmp_path, *tiny_model_builder())
    monitor = MonitorCallback(trainer, store=tmp_path / "store", every_steps=1, max_overhead=math.inf)
    monkeypatch.setattr(monitor.store, "append_table", lambda *a, **k: 1 / 0)
    trainer.add_callback(monitor)
    trainer.train()
    assert trainer.state.global_step == STEPS
    assert monitor.errors >= STEPS


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_halt_on_stops_training_and_alert_is_called(tmp_path, tiny_model_builder, monkeypatch, background):
    planted = Finding(
        "exploration_starvation", Severity.HIGH, 1.0, "planted", (1, 1), "target", signal="frac_all_fail"
    )
    planting = replace(DETECTORS["exploration_starvation"], detect=lambda s, c: [planted])
    monkeypatch.setitem(DETECTORS, "exploration_starvation", planting)
    alerts: list[Finding] = []
    trainer = _trainer(tmp_path, *tiny_model_builder(), max_steps=10)
    monitor = MonitorCallback(
        trainer,
        store=tmp_path / "store",
        every_steps=2,
        max_overhead=math.inf,
        halt_on="high",
        alert=alerts.append,
        background=background,
    )
    trainer.add_callback(monitor)
    trainer.add_callback(WaitForMonitor(monitor))
    trainer.train()
    # Inline, the pass asked for at step 2 stops the run at step 2; in the background its finding is
    # acted on at the next step end after it finished.
    assert trainer.state.global_step == (3 if background else 2)
    assert alerts == [planted] and monitor.first_flag_step == 2


@pytest.mark.slow  # ~5 CPU-s: a run judged at every step, each pass made slow on purpose
def test_queued_passes_flag_at_the_step_they_judge_however_slow_the_worker(
    tmp_path, tiny_model_builder, monkeypatch
):
    """`queue_passes` (what `rlaudit elicit` sets): a pass per step, each on exactly its own rows, so
    the first flagged step is the first step whose rows show the problem, even when every pass is far
    slower than a step (here: the planted detector sleeps)."""
    import time

    def planted(signals, cfg):
        time.sleep(0.1)  # a pass much slower than a tiny step: the worker falls behind
        if int(signals.steps.column("step").to_numpy().max()) < 3:
            return []
        return [Finding("exploration_starvation", Severity.HIGH, 1.0, "planted", (3, 3), "target")]

    monkeypatch.setitem(
        DETECTORS, "exploration_starvation", replace(DETECTORS["exploration_starvation"], detect=planted)
    )
    trainer = _trainer(tmp_path, *tiny_model_builder(), max_steps=4)
    monitor = MonitorCallback(
        trainer, store=tmp_path / "store", every_steps=1, max_overhead=math.inf, queue_passes=True
    )
    trainer.add_callback(monitor)
    trainer.train()
    assert monitor.first_flag_step == 3 and monitor.errors == 0
    assert monitor.result is not None and monitor.result.label == "hacking-likely"


def test_bad_options_are_clear_errors(tmp_path, tiny_model_builder):
    trainer = _trainer(tmp_path, *tiny_model_builder())
    with pytest.raises(ValueError, match="halt_on='severe'"):
        MonitorCallback(trainer, halt_on="severe")
