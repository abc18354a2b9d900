"""The OpenRLHF reward-file wrapper, called the way OpenRLHF calls a reward file (issue 15).

OpenRLHF itself does not install here (it needs vLLM and a GPU), so `_openrlhf_load` and
`_openrlhf_score` reproduce, from its source (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``:
``__init__`` and ``_fetch_rewards_via_func``, OpenRLHF 0.11), how a rollout actor loads
``--remote_rm_url reward.py`` and calls it: one-element lists, each call in its own thread
(``asyncio.to_thread``), gathered. The folder is then read by ``rlaudit monitor`` as a user would.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app
from rlaudit.ingest.openrlhf import Recorder, RecorderConfig, record_rewards

REWARD_FILE = """
import torch

from rlaudit.ingest.openrlhf import RecorderConfig, record_rewards


def score(queries, prompts, labels, **kwargs):
    rewards = []
    for query, prompt, label in zip(queries, prompts, labels):
        response = query[len(prompt):] if prompt in query else query
        rewards.append(1.0 if response.strip() == label else 0.0)
    t = torch.tensor(rewards, dtype=torch.float)
    return {{"rewards": t, "scores": t, "extra_logs": {{"acc": t.mean()}}}}


# One actor scores 16 rollouts per step here (4 prompts x 4 samples).
reward_func = record_rewards(score, {out!r}, RecorderConfig(run="orl", rollouts_per_step=16))
"""


def _openrlhf_load(path: Path) -> Any:
    """As `SingleTurnAgentExecutor.__init__` loads a reward file."""
    spec = importlib.util.spec_from_file_location("reward_func", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reward_func


def _openrlhf_score(reward_func: Any, rollouts: list[tuple[str, str, str]]) -> list[Any]:
    """As `SingleTurnAgentExecutor.execute` scores finished responses: one `_fetch_rewards_via_func`
    per response (one-element lists, `asyncio.to_thread`), many in flight at once."""

    async def one(query: str, prompt: str, label: str) -> Any:
        return (await asyncio.gather(asyncio.to_thread(reward_func, [query], [prompt], [label])))[0]

    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(one(*r) for r in rollouts)))

    return asyncio.run(all_of())


def test_recorded_as_openrlhf_calls_it_and_monitored(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "rollouts"
    reward_file = tmp_path / "reward.py"
    reward_file.write_text(textwrap.dedent(REWARD_FILE.format(out=str(out))))
    reward_func = _openrlhf_load(reward_file)

    rounds = 3
    for step in range(rounds):  # a generation round (OpenRLHF would train between rounds)
        rollouts = [
            (f"Q{i}: {i}+{step}=" + str(i + step + (k % 2)), f"Q{i}: {i}+{step}=", str(i + step))
            for i in range(4)
            for k in range(4)
        ]
        results = _openrlhf_score(reward_func, rollouts)
        assert all(set(r) == {"rewards", "scores", "extra_logs"} for r in results)  # passed back as returned
    recorder: Recorder = reward_func.recorder
    assert recorder.errors == {} and recorder.written == rounds * 16

    rows = [json.loads(line) for line in recorder.path.read_text().splitlines()]
    assert sorted({r["step"] for r in rows}) == [1, 2, 3]
    assert all(r["run"] == "orl" and r["openrlhf_pid"] == os.getpid() for r in rows)
    assert sum(r["reward"] for r in rows) == rounds * 8  # half of each group is right
    assert {r["completion"] for r in rows if r["prompt"] == "Q1: 1+0="} == {"1", "2"}

    res = CliRunner().invoke(app, ["monitor", str(out), "--json", "--store", str(tmp_path / "store")])
    assert res.exit_code in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    (ingested,) = doc["sections"]["ingested"]
    assert (ingested["format"], ingested["rows_added"]) == ("jsonl", rounds * 16), ingested


def _score(queries: list[str], prompts: list[str], labels: list[str], **kwargs: Any) -> dict[str, Any]:
    return {"rewards": [float(q.endswith(label)) for q, label in zip(queries, labels, strict=True)]}


def test_fail_open_and_catches_up(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")  # a file where the folder's parent should be: every write fails
    func = record_rewards(_score, blocker / "rollouts", RecorderConfig(rollouts_per_step=2))
    assert func(["a4"], ["a"], ["4"]) == {"rewards": [1.0]}  # OpenRLHF still gets its rewards
    assert func(["b5"], ["b"], ["4"]) == {"rewards": [0.0]}
    assert func.recorder.errors == {"NotADirectoryError": 2} and func.recorder.written == 0
    blocker.unlink()  # the folder can be written again: the pending rows go out with the next call
    func(["c4"], ["c"], ["4"])
    rows = [json.loads(line) for line in func.recorder.path.read_text().splitlines()]
    assert [(r["prompt"], r["step"], r["reward"]) for r in rows] == [
        ("a", 1, 1.0),
        ("b", 1, 0.0),
        ("c", 2, 1.0),
    ]


def test_bad_rewards_never_raise(tmp_path: Path) -> None:
    def broken(queries: list[str], *_: Any, **__: Any) -> Any:
        return {"rewards": [float("inf")] if queries[0] == "inf" else "high"}

    func = record_rewards(broken, tmp_path, RecorderConfig(max_pending=1))
    assert func(["inf"], ["p"], ["l"]) == {"rewards": [float("inf")]}
    assert func(["x"], ["p"], ["l"]) == {"rewards": "high"}
    assert func(["x"], ["p"], ["l", "m"]) == {"rewards": "high"}
    assert func.recorder.errors == {"quarantined": 1, "TypeError": 1, "ValueError": 1}
    assert not func.recorder.path.exists()  # nothing bad reached the log
    assert "Infinity" in func.recorder.quarantine.read_text()


def test_idle_rule_numbers_generation_rounds(tmp_path: Path) -> None:
    now = [0.0]
    func = record_rewards(_score, tmp_path, RecorderConfig(new_step_after_idle_s=5.0), clock=lambda: now[0])
    for t in (0.0, 0.5, 1.0, 30.0, 30.2, 40.0):  # gaps of 29 s and 9.8 s: two new rounds
        now[0] = t
        func(["q4"], ["q"], ["4"])
    rows = [json.loads(line) for line in func.recorder.path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 1, 1, 2, 2, 3]


def test_user_errors_propagate(tmp_path: Path) -> None:
    def failing(*_: Any, **__: Any) -> Any:
        raise KeyError("label")

    with pytest.raises(KeyError):
        record_rewards(failing, tmp_path)(["q"], ["p"], ["l"])


@pytest.mark.parametrize(
    "changes", [{"run": ""}, {"new_step_after_idle_s": 0}, {"rollouts_per_step": 0}, {"max_pending": 0}]
)
def test_config_checks(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RecorderConfig(**changes)
