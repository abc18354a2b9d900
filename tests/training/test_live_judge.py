"""The background judge: `submit` never blocks the caller, findings land when the replies do, and inside
a real TRL run the callback's judgement carries them."""

from __future__ import annotations

import math
import threading
import time

import pytest

from rlaudit.judges import HFJudge, HFJudgeConfig, JudgeConfig
from rlaudit.judges.selection import SelectionConfig
from rlaudit.training.live_judge import LiveJudge, LiveJudgeConfig

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


class Gated:
    """A real (tiny) judge that answers only once `gate` is set: a judge slower than training."""

    def __init__(self, judge: HFJudge) -> None:
        self.judge, self.model, self.gate = judge, judge.model, threading.Event()

    def complete(self, requests):
        self.gate.wait(60)
        return self.judge.complete(requests)


@pytest.fixture
def tiny_judge(tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    return HFJudge(
        HFJudgeConfig(model="tiny-test", max_new_tokens=4, batch_size=8), model=model, tokenizer=tokenizer
    )


def test_submit_never_waits_for_the_judge(tiny_judge, tmp_path):
    from tests.judges.conftest import store_of, write_log

    verbal_store = store_of(write_log(tmp_path / "verbal.jsonl"), tmp_path / "store")
    gated = Gated(tiny_judge)
    config = JudgeConfig(model="tiny-test", cache=tmp_path / "c.sqlite", selection=SelectionConfig(budget=2))
    live = LiveJudge(verbal_store, config, LiveJudgeConfig(queue_size=1), backend=gated)
    started = time.perf_counter()
    accepted = [live.submit(step) for step in range(5)]
    assert time.perf_counter() - started < 0.5  # five submits while the judge is stuck
    assert accepted[0] and not all(accepted) and live.dropped >= 3
    assert live.latest() == []  # nothing has come back yet
    gated.gate.set()
    assert live.wait(60)
    assert live.passes >= 1 and live.errors == 0
    assert {"judge_suspicion", "judge_rules"} <= {f.detector for f in live.latest()}
    live.close(timeout=10)


def test_the_callback_adds_judge_findings_without_errors(tmp_path, tiny_model_builder, tiny_judge):
    pytest.importorskip("trl")
    from rlaudit.training import MonitorCallback
    from tests.training.test_monitor_callback import _trainer

    trainer = _trainer(tmp_path, *tiny_model_builder())
    monitor = MonitorCallback(trainer, store=tmp_path / "store", every_steps=2, max_overhead=math.inf)
    config = JudgeConfig(model="tiny-test", cache=tmp_path / "c.sqlite", selection=SelectionConfig(budget=4))
    monitor.live_judge = LiveJudge(monitor.store, config, backend=tiny_judge)
    trainer.add_callback(monitor)
    trainer.train()
    assert monitor.errors == 0 and monitor.live_judge.errors == 0 and monitor.live_judge.passes >= 1
    detectors = {f.detector for f in monitor.result.findings}
    assert {"judge_suspicion", "judge_rules"} <= detectors
