"""The live probe signal (`MonitorCallback(probe=..., probe_every=...)`) in a real TRL GRPO run on a
tiny model (CPU, a few steps), with real probes fitted on the model's own activations."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

pytest.importorskip("trl")

from datasets import Dataset
from trl import GRPOTrainer

from rlaudit.findings import Severity
from rlaudit.interp import activations
from rlaudit.interp.probes import Probe, fit_probe
from rlaudit.tasks.arith import arith_reward, make_dataset
from rlaudit.training import MonitorCallback
from rlaudit.training.live_probe import LiveProbe
from tests.training.tiny_grpo import grpo_args

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

STEPS, PROMPTS, GENERATIONS, SAMPLE = 4, 4, 4, 8


def _trainer(tmp_path, model, tokenizer, name="out"):
    args = grpo_args(tmp_path / name, steps=STEPS, batch=PROMPTS * GENERATIONS, generations=GENERATIONS)
    return GRPOTrainer(
        model=model,
        reward_funcs=[arith_reward],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(64, seed=0)),
        processing_class=tokenizer,
    )


def _split_probe(model, tokenizer, *, shuffle: bool) -> Probe:
    """A probe of the model's own layer-0.5 activations (last prompt token) that reads target (1)
    from control (0) prompts by their tag; `shuffle`: the same fit on shuffled labels, which reads
    nothing."""
    rows = make_dataset(160, seed=1)  # other problems than the run's
    x = activations(model, tokenizer, [r["prompt"] for r in rows], layers=("0.5",), chat=False)["0.5"]
    y = np.array([r["split"] == "target" for r in rows], dtype=int)
    if shuffle:
        y = np.random.default_rng(0).permutation(y)
    labels = {"0": "control prompt", "1": "target prompt"}
    return fit_probe(x, y, layer="0.5", pooling="last_prompt", source="models", labels=labels)


def _stored_scores(monitor) -> list[tuple[int, str, float | None]]:
    con = monitor.store.connect()
    rows = con.execute("SELECT step, split, extra FROM rollouts ORDER BY step").fetchall()
    return [(s, sp, json.loads(e).get("probe_score") if e else None) for s, sp, e in rows]


def test_probe_scores_reach_the_tracker_the_store_and_the_detector(tmp_path, tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    probe = _split_probe(model, tokenizer, shuffle=False)
    assert probe.metrics["auroc"] > 0.9  # the tag is easy to read
    probe.save(tmp_path / "probe.json")
    trainer = _trainer(tmp_path, model, tokenizer)
    monitor = MonitorCallback(
        trainer,
        store=tmp_path / "store",
        every_steps=1,
        max_overhead=math.inf,
        probe=str(tmp_path / "probe.json"),
        probe_every=1,
        probe_rollouts=SAMPLE,
    )
    trainer.add_callback(monitor)
    trainer.train()
    assert monitor.errors == 0 and monitor.probe.errors == 0
    assert monitor.probe.scored_steps == list(range(1, STEPS + 1))

    # The tracker: each step's log line carries each split's mean score.
    logged = [h for h in trainer.state.log_history if "rlaudit/probe_score/target" in h]
    assert len(logged) == STEPS
    assert all(h["rlaudit/probe_score/target"] > h["rlaudit/probe_score/control"] for h in logged)
    assert all(h["rlaudit/probe_errors"] == 0 for h in logged)

    # The store: at most SAMPLE rollouts scored per step, each a probability, the rest null.
    stored = _stored_scores(monitor)
    for step in range(1, STEPS + 1):
        scores = [v for s, _, v in stored if s == step and v is not None]
        assert 0 < len(scores) <= SAMPLE and all(0 <= v <= 1 for v in scores)
    assert sum(v is not None for *_, v in stored) <= STEPS * SAMPLE < len(stored)

    # The detector: target sits above control on every scored step.
    (f,) = [f for f in monitor.result.findings if f.detector == "probe_score_rise"]
    assert f.split == "target" and f.evidence["above"] and f.evidence["paired_steps"] == STEPS
    assert f.severity == Severity.MEDIUM and f.signal == "probe_score"


def test_a_probe_that_reads_nothing_leaves_the_run_clean_and_unchanged(tmp_path, tiny_model_builder):
    """A probe fitted on shuffled labels: no finding; and the extra forward passes change nothing the
    run computes (the same rewards and losses as a run without the probe)."""
    model, tokenizer = tiny_model_builder()
    probe = _split_probe(model, tokenizer, shuffle=True)
    runs = {}
    for name, options in (("probe", {"probe": probe, "probe_every": 2}), ("plain", {})):
        model, tokenizer = tiny_model_builder()
        trainer = _trainer(tmp_path, model, tokenizer, name=name)
        monitor = MonitorCallback(trainer, store=tmp_path / f"store-{name}", every_steps=STEPS, **options)
        trainer.add_callback(monitor)
        trainer.train()
        runs[name] = (trainer, monitor)
    trainer, monitor = runs["probe"]
    assert monitor.probe.scored_steps == [1, 3] and monitor.probe.errors == 0
    assert sum("rlaudit/probe_score/target" in h for h in trainer.state.log_history) == 2
    assert not [f for f in monitor.result.findings if f.detector == "probe_score_rise"]

    def curve(t):
        return [(h["loss"], h["reward"]) for h in t.state.log_history if "loss" in h]

    assert curve(runs["probe"][0]) == curve(runs["plain"][0])


def test_a_failing_probe_is_counted_and_warned_once_never_raised(tmp_path, tiny_model_builder, caplog):
    model, tokenizer = tiny_model_builder()
    good = _split_probe(model, tokenizer, shuffle=False)
    wide = len(good.coef) + 1  # a probe for another model's width
    bad = Probe(
        good.layer, good.pooling, np.zeros(wide), 0.0, np.zeros(wide), np.ones(wide), 1.0, "models", {}, "x"
    )
    trainer = _trainer(tmp_path, model, tokenizer)
    monitor = MonitorCallback(
        trainer, store=tmp_path / "store", every_steps=1, max_overhead=math.inf, probe=bad, probe_every=1
    )
    trainer.add_callback(monitor)
    with caplog.at_level(logging.WARNING, logger="rlaudit.training.live_probe"):
        trainer.train()
    assert trainer.state.global_step == STEPS
    assert monitor.probe.errors == STEPS and monitor.errors == 0
    assert len([r for r in caplog.records if "live probe failed" in r.message]) == 1
    assert monitor.store.count() == STEPS * PROMPTS * GENERATIONS  # the rollouts are all kept
    assert trainer.state.log_history[-2]["rlaudit/probe_errors"] == STEPS


def test_the_sample_spreads_over_splits_and_is_seeded():
    live = LiveProbe.__new__(LiveProbe)
    live.max_rollouts, live.seed = 4, 0
    splits = ["target"] * 12 + ["control"] * 4
    chosen = live.sample(5, splits)
    assert len(chosen) == 4 and sum(splits[i] == "control" for i in chosen) == 2
    assert chosen == live.sample(5, splits) and chosen != live.sample(6, splits)


def test_scoring_leaves_the_model_in_its_mode_without_gradients(tiny_model_builder):
    from collections import defaultdict
    from types import SimpleNamespace

    model, tokenizer = tiny_model_builder()
    probe = _split_probe(model, tokenizer, shuffle=False)
    model.train()
    trainer = SimpleNamespace(
        model=model,
        processing_class=tokenizer,
        accelerator=SimpleNamespace(unwrap_model=lambda m: m),
        _metrics={"train": defaultdict(list)},
    )
    rows = make_dataset(6, seed=2)
    live = LiveProbe(probe, every_steps=1, max_rollouts=4)
    got = live.observe(trainer, 1, [r["prompt"] for r in rows], ["1", "", "3", "4", "5", "6"], None)
    scores = got["probe_score"].to_pylist()
    assert sum(v is not None for v in scores) == 4 and model.training
    assert all(p.grad is None for p in model.parameters())
    assert trainer._metrics["train"]["rlaudit/probe_score/all"] == [
        pytest.approx(np.mean([v for v in scores if v is not None]))
    ]


def test_bad_probe_options_are_clear_errors(tmp_path, tiny_model_builder):
    trainer = _trainer(tmp_path, *tiny_model_builder())
    with pytest.raises(ValueError, match="probe_every"):
        MonitorCallback(trainer, probe=tmp_path / "p.json", probe_every=0)
    with pytest.raises(ValueError, match=r"p\.json"):
        MonitorCallback(trainer, probe=tmp_path / "p.json")  # no such file


def test_elicit_runs_the_live_probe_and_refuses_a_bad_probe_file(tmp_path, tiny_model_builder):
    from typer.testing import CliRunner

    from rlaudit.cli import app

    model, tokenizer = tiny_model_builder()
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    tokenizer.save_pretrained(ckpt)
    _split_probe(model, tokenizer, shuffle=False).save(tmp_path / "probe.json")
    small = ["--steps", "3", "--eval-prompts", "8", "--num-generations", "4", "--prompts-per-step", "4"]
    args = ["elicit", str(ckpt), *small, "--probe", str(tmp_path / "probe.json"), "--probe-every", "2"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--json"])
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.stdout)
    assert doc["provenance"]["configs"]["elicit"]["probe_every"] == 2
    rows = [r for by_split in doc["sections"]["signals"]["steps"].values() for r in by_split.values()]
    scored = {
        step
        for by_condition in rows
        for step, n in zip(by_condition["*"]["step"], by_condition["*"]["probe_rollouts"], strict=True)
        if n
    }
    assert scored == {1, 3}

    (tmp_path / "bad.json").write_text('{"format": "rlaudit-probe", "version": 1}')
    bad = CliRunner().invoke(
        app, [*args[:-4], "--probe", str(tmp_path / "bad.json"), "--out", str(tmp_path / "b")]
    )
    assert bad.exit_code == 2 and "bad.json" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_the_counters_round_trip_through_json():
    probe = Probe("0.5", "last_prompt", np.zeros(4), 0.0, np.zeros(4), np.ones(4), 1.0, "models", {}, "x")
    live = LiveProbe(probe, every_steps=2, max_rollouts=4)
    live.errors, live.seconds, live.cpu_seconds, live.scored_steps = 1, 0.5, 0.25, [1, 3]
    again = LiveProbe(live.probe, every_steps=2, max_rollouts=4)
    again.load_state(json.loads(json.dumps(live.state())))
    assert (
        again.state()
        == live.state()
        == {
            "errors": 1,
            "seconds": 0.5,
            "cpu_seconds": 0.25,
            "scored_steps": [1, 3],
        }
    )


@pytest.mark.slow
def test_the_counters_travel_with_a_checkpoint_and_come_back_on_resume(tmp_path, tiny_model_builder):
    from transformers import TrainerCallback

    from rlaudit.training.checkpoint_state import STATE_DIR, STATE_FILE

    class Preempted(Exception):
        pass

    class PreemptAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise Preempted

    def trainer_and_monitor():
        model, tokenizer = tiny_model_builder()
        args = grpo_args(
            tmp_path / "out",
            steps=STEPS,
            batch=PROMPTS * GENERATIONS,
            generations=GENERATIONS,
            save_strategy="steps",
            save_steps=2,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[arith_reward],
            args=args,
            train_dataset=Dataset.from_list(make_dataset(64, seed=0)),
            processing_class=tokenizer,
        )
        probe = _split_probe(model, tokenizer, shuffle=False)
        monitor = MonitorCallback(
            trainer,
            store=tmp_path / "store",
            every_steps=1,
            max_overhead=math.inf,
            probe=probe,
            probe_every=1,
        )
        trainer.add_callback(monitor)
        return trainer, monitor

    trainer, first = trainer_and_monitor()
    trainer.add_callback(PreemptAt())
    with pytest.raises(Preempted):
        trainer.train()
    assert first.probe.scored_steps == [1, 2, 3]
    saved = json.loads((tmp_path / "out" / "checkpoint-2" / STATE_DIR / STATE_FILE).read_text())
    assert saved["probe"]["scored_steps"] == [1, 2] and saved["probe"]["cpu_seconds"] > 0

    trainer, resumed = trainer_and_monitor()
    trainer.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-2"))
    # Steps 1-2 from the checkpoint, 3-4 scored again by the resumed run: the whole run's counters.
    assert resumed.probe.scored_steps == [1, 2, 3, 4] and resumed.probe.errors == 0
    assert resumed.probe.cpu_seconds > saved["probe"]["cpu_seconds"]
