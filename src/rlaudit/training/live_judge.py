"""`LiveJudge`: the transcript judge beside a training run, in a background thread.

The callback calls `submit()` when it judges the run; `submit` never blocks: it puts a request on a
bounded queue and, when the queue is full (the judge is behind), drops it and counts the drop (the
next pass reads the whole store anyway, and the reply cache keeps repeated rollouts free). A worker
thread runs `rlaudit.judges.judge_store` over the store, which the trainer keeps appending to (the
store allows readers while a writer appends), and keeps the findings of its latest pass; the callback
adds `latest()` to its next judgement, so judge findings land when the replies do. The back-end is
built in the worker too: an in-process judge model loads off the training thread. Fail-open: an error
in a pass is logged and counted, never raised into training.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from rlaudit.findings import Finding
from rlaudit.judges import JudgeBackend, JudgeConfig, judge_store, make_backend
from rlaudit.records import RolloutStore

logger = logging.getLogger(__name__)


@dataclass
class LiveJudgeConfig:
    """The background judge's queue and how long the end of training waits for its last pass."""

    queue_size: int = 2
    """Passes waiting at most; a submit beyond this is dropped (the trainer never waits)."""
    final_wait_s: float = 120.0
    """At the end of training, wait at most this long for the last pass's replies."""

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.final_wait_s < 0:
            raise ValueError("LiveJudgeConfig: queue_size must be >= 1 and final_wait_s >= 0")


class LiveJudge:
    """A transcript judge running in a daemon thread over a growing store (see the module docstring)."""

    def __init__(
        self,
        store: RolloutStore,
        config: JudgeConfig,
        live: LiveJudgeConfig | None = None,
        *,
        backend: JudgeBackend | None = None,
    ) -> None:
        self.store, self.config, self.live = store, config, live or LiveJudgeConfig()
        self._backend = backend
        self._queue: queue.Queue[int | None] = queue.Queue(maxsize=self.live.queue_size)
        self._lock = threading.Lock()
        self._latest: list[Finding] = []
        self.passes = 0
        """Judge passes finished."""
        self.dropped = 0
        """Submits dropped because the queue was full."""
        self.errors = 0
        self._outstanding = 0
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._work, name="rlaudit-live-judge", daemon=True)
        self._thread.start()

    def submit(self, step: int) -> bool:
        """Ask for a pass over the store as it is at `step`; False (and counted) when the queue is full."""
        with self._lock:
            try:
                self._queue.put_nowait(step)
            except queue.Full:
                self.dropped += 1
                return False
            self._outstanding += 1
            self._idle.clear()
            return True

    def latest(self) -> list[Finding]:
        """The findings of the latest finished pass (none before the first)."""
        with self._lock:
            return list(self._latest)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted pass has finished, or `timeout`; True when idle."""
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop the worker after the passes queued so far (waiting at most `timeout` for it)."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return  # still busy: it is a daemon thread and goes with the process
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            step = self._queue.get()
            if step is None:
                return
            try:
                if self._backend is None:
                    self._backend = make_backend(self.config)
                findings = judge_store(self.store, self.config, self._backend)
                with self._lock:
                    self._latest = findings
                    self.passes += 1
            except Exception:  # fail open: a judge error never reaches the training loop
                with self._lock:
                    self.errors += 1
                logger.exception("rlaudit: live judge pass at step %s failed (training continues)", step)
            finally:
                with self._lock:
                    self._outstanding -= 1
                    if self._outstanding == 0:
                        self._idle.set()
