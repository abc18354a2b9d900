"""OpenRLHF rollouts, recorded where they are scored: a wrapper for its custom reward-function file.

OpenRLHF writes no per-rollout file (its trackers get one sample per step). What it does give a user is
``--remote_rm_url path/to/reward.py``: each vLLM rollout actor loads that file
(``importlib.util.spec_from_file_location("reward_func", path)``, then ``module.reward_func``) and calls
``reward_func(queries, prompts, labels)`` once per finished response, from a worker thread
(``asyncio.to_thread``), with one-element lists: ``queries`` the decoded prompt + response,
``prompts`` the prompt text, ``labels`` the dataset's label. It reads back a dict with ``rewards``
(used for the advantage), optionally ``scores`` (dynamic filtering) and ``extra_logs``
(``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``, OpenRLHF 0.11).

`record_rewards` wraps the user's function so that every scored rollout is also appended, as one
line of rlaudit's generic JSONL record, to a file of its own per process in a folder
(``openrlhf-<host>-<pid>.jsonl``): several rollout actors never share a file, and
``rlaudit monitor FOLDER`` reads them all as one run (every line names its `run`). A reward file::

    from rlaudit.ingest.openrlhf import record_rewards
    from my_rewards import reward_func as score

    reward_func = record_rewards(score, "/shared/rlaudit/openrlhf")

Every actor records (each rollout is scored in exactly one actor, so nothing is counted twice; a
rank-0 rule would drop the other actors' rollouts). Recording is fail-open: the user's result goes
back to OpenRLHF unchanged and the user's own exceptions propagate as they would without rlaudit, but
a fault of rlaudit's (an unwritable folder, a reward it cannot read) is one warning per kind and a
count in `Recorder.errors`, never an exception into OpenRLHF. Rows that cannot be written stay
pending (at most `RecorderConfig.max_pending`, oldest dropped and counted) and go out with the next
write that works; a row whose reward is infinite goes to a ``.quarantine`` side file, not the log.

The actors do not know the trainer's step. A step here is a *generation round*: OpenRLHF generates a
whole rollout batch, then trains, so the round changes when no response was scored for
`RecorderConfig.new_step_after_idle_s`; or, when the user knows how many rollouts one actor scores per
step (``rollout.batch_size * n_samples_per_prompt / vllm_num_engines``), every
`RecorderConfig.rollouts_per_step` rollouts. With ``--async_train`` (generation overlaps training)
only the second is meaningful.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RewardFunc = Callable[..., Any]


@dataclass
class RecorderConfig:
    """How `record_rewards` names the run and tells steps apart."""

    run: str = "openrlhf"
    """The `run` field of every recorded rollout (one run across all actors' files)."""
    new_step_after_idle_s: float = 5.0
    """A new generation round starts after this long without a scored response. OpenRLHF trains
    between rounds (seconds to minutes per step even for small models) while responses of one round
    finish back to back under vLLM's continuous batching; lower it for toy runs, raise it when a
    single generation can stall longer."""
    rollouts_per_step: int | None = None
    """When set, a step is every this many rollouts scored by one actor (overrides the idle rule)."""
    max_pending: int = 10_000
    """Rows kept in memory while the folder cannot be written; older ones are dropped and counted."""

    def __post_init__(self) -> None:
        if not self.run:
            raise ValueError("run must be a non-empty name")
        if not self.new_step_after_idle_s > 0:
            raise ValueError("new_step_after_idle_s must be > 0 (seconds)")
        if self.rollouts_per_step is not None and self.rollouts_per_step < 1:
            raise ValueError("rollouts_per_step must be >= 1 (or None for the idle rule)")
        if self.max_pending < 1:
            raise ValueError("max_pending must be >= 1")


class Recorder:
    """One process's recorder: numbers the rounds, turns a reward call into rows, appends them."""

    def __init__(
        self,
        out: str | os.PathLike[str],
        config: RecorderConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or RecorderConfig()
        self.clock = clock
        """Seconds, for the idle rule (a test passes its own)."""
        self.out = Path(out)
        # Named by host and process only: model text never decides a path.
        self.path = self.out / f"openrlhf-{socket.gethostname()}-{os.getpid()}.jsonl"
        self.quarantine = self.path.with_suffix(".quarantine")
        self.errors: Counter[str] = Counter()
        self.written = 0
        self._pending: deque[str] = deque()
        self._lock = threading.Lock()  # OpenRLHF calls the reward function from several threads
        self._step = 1
        self._n = 0
        self._last: float | None = None

    def record(self, queries: Any, prompts: Any, labels: Any, result: Any) -> None:
        """Record one call's rollouts; never raises."""
        try:
            with self._lock:
                self._record(queries, prompts, labels, result)
        except Exception as e:  # fail-open: OpenRLHF's rollout must never see rlaudit's fault
            self._fault(type(e).__name__, e)

    def _record(self, queries: Any, prompts: Any, labels: Any, result: Any) -> None:
        queries, prompts, labels = list(queries), list(prompts), list(labels)
        n = len(queries)
        if not (len(prompts) == len(labels) == n):
            raise ValueError(f"{n} queries, {len(prompts)} prompts, {len(labels)} labels")
        if not isinstance(result, dict) or "rewards" not in result:
            raise ValueError("the reward function returned no dict with 'rewards'")
        rewards = _floats(result["rewards"], n)
        scores = _floats(result["scores"], n) if result.get("scores") is not None else None
        now = self.clock()
        bad: list[str] = []
        for i in range(n):
            row: dict[str, Any] = {
                "run": self.config.run,
                "step": self._next_step(now),
                "prompt": _text(prompts[i]),
                "completion": _completion(_text(queries[i]), _text(prompts[i])),
                "reward": rewards[i],
                "answer": None if labels[i] is None else _text(labels[i]),
                "openrlhf_pid": os.getpid(),
            }
            if scores is not None:
                row["openrlhf_score"] = scores[i]
            if any(isinstance(v, float) and math.isinf(v) for v in (rewards[i], row.get("openrlhf_score"))):
                bad.append(_line(row))
                continue
            self._pending.append(_line(row))
        while len(self._pending) > self.config.max_pending:
            self._pending.popleft()
            self.errors["dropped"] += 1
        if bad:
            self.errors["quarantined"] += len(bad)
            with open(self.quarantine, "a", encoding="utf-8") as f:
                f.write("".join(bad))
        self._flush()

    def _next_step(self, now: float) -> int:
        cfg = self.config
        if cfg.rollouts_per_step is not None:
            step = 1 + self._n // cfg.rollouts_per_step
        else:
            if self._last is not None and now - self._last > cfg.new_step_after_idle_s:
                self._step += 1
            step = self._step
        self._n += 1
        self._last = now
        return step

    def _flush(self) -> None:
        if not self._pending:
            return
        lines = "".join(self._pending)
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            # One write of whole lines: a reader that races it sees at most a missing tail line.
            f.write(lines)
        self.written += len(self._pending)
        self._pending.clear()

    def _fault(self, kind: str, e: Exception) -> None:
        self.errors[kind] += 1
        if self.errors[kind] == 1:
            log.warning("rlaudit: not recording OpenRLHF rollouts (%s: %s); counting further ones", kind, e)


def record_rewards(
    reward_func: RewardFunc,
    out: str | os.PathLike[str],
    config: RecorderConfig | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> RewardFunc:
    """`reward_func` with the same signature and results, recording every scored rollout under `out`.

    The returned function carries its `Recorder` as ``.recorder`` (faults in ``.recorder.errors``).
    """
    recorder = Recorder(out, config, clock)

    def recorded(queries: Any, prompts: Any, labels: Any, **kwargs: Any) -> Any:
        result = reward_func(queries, prompts, labels, **kwargs)  # the user's errors are the user's
        recorder.record(queries, prompts, labels, result)
        return result

    recorded.recorder = recorder  # type: ignore[attr-defined]
    recorded.__doc__ = reward_func.__doc__
    recorded.__name__ = getattr(reward_func, "__name__", "reward_func")
    return recorded


def _floats(value: Any, n: int) -> list[float | None]:
    """A tensor, array, list or scalar of `n` rewards as floats; NaN becomes None (unscored)."""
    if hasattr(value, "tolist"):  # torch tensors and numpy arrays, without importing either
        value = value.tolist()
    if not isinstance(value, list | tuple):
        value = [value]
    if len(value) != n:
        raise ValueError(f"{len(value)} rewards for {n} queries")
    out: list[float | None] = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TypeError(f"a reward of type {type(v).__name__}")
        f = float(v)
        out.append(None if math.isnan(f) else f)
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _completion(query: str, prompt: str) -> str:
    """OpenRLHF passes prompt + response decoded together; the response is what follows the prompt
    (as its own example reward function reads it), else the whole query."""
    return query[len(prompt) :] if prompt and query.startswith(prompt) else query


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=True) + "\n"
