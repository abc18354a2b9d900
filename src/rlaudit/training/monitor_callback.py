"""`MonitorCallback`: rlaudit inside a running TRL `GRPOTrainer`.

    trainer = GRPOTrainer(model=..., reward_funcs=..., args=..., train_dataset=...)
    trainer.add_callback(MonitorCallback(trainer, store="runs/store"))

Like TRL's own `LogCompletionsCallback`, it takes the trainer. It records every rollout of every
generation batch (prompt, completion, each reward function's value, the weighted total, token count,
what the reward functions logged through `log_extra`, and the dataset's `split` / `condition` /
`answer` / `correct` columns when present; `rlaudit.training.capture`) by wrapping the trainer's
reward computation, appends them to a `RolloutStore`, and every so often computes the signals, runs
the detectors and logs `rlaudit/...` metrics through the trainer's own metric buffer, so they reach
whatever the run reports to (TensorBoard, W&B, trackio) with the next log line.

Off the training thread: a step only turns its batch into an Arrow table and, when a pass is due,
hands the rows captured since the last hand-over to a background worker
(`rlaudit.training.judge_worker`), which validates and writes them and runs the detectors. A pass's
findings are logged (and alerted on, and `halt_on` acted on) at the first step end after it
finishes; it judges exactly the rows of the steps up to the one that asked for it. At most one pass
is in flight: a pass that comes due while one runs waits for it (or is queued, `queue_passes`). `on_save` writes every row handed
so far before saving the monitor's state; `on_train_end` hands the rest and waits for the final pass
(at most `final_wait_s`). `background=False` does all of it in the training thread, as before.

It is fail-open (`rlaudit.training.failopen`): any error inside the monitor is counted (`rlaudit/errors`)
and logged once per kind, never raised into the training loop; rows the store cannot take stay buffered
(bounded, the oldest spilled to side files) until it can; a bad row is quarantined, not its batch; a
detector that fails is counted, and makes that pass's verdict NaN, not `clean`; a failing pass backs
off. Its state is saved with each trainer checkpoint and restored on resume
(`rlaudit.training.checkpoint_state`), so a resumed run stores each rollout once. In a multi-process
run every process's rollouts are gathered to the main process, which alone records and judges: the
store and findings are those of one process running the same global batch. The detectors run at most
every `every_steps` steps and only when the time the last pass took is under `max_overhead` of the
training time since (so a fast run is judged less often), and always at the end.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from transformers import TrainerCallback

from rlaudit.findings import Finding, Verdict
from rlaudit.judgement import Judgement
from rlaudit.monitor import judge
from rlaudit.records import RolloutStore, normalize
from rlaudit.training import checkpoint_state
from rlaudit.training.alerts import post_async
from rlaudit.training.callback_config import SEVERITIES, MonitorCallbackConfig
from rlaudit.training.capture import ROW_FIELDS, gather_to_main, rollout_table, world_size
from rlaudit.training.failopen import (
    Backoff,
    FaultLog,
    RowBuffer,
    concat_or_each,
    fail_open,
    normalize_keeping_good,
    quarantine,
)
from rlaudit.training.judge_worker import JudgeWorker, WorkItem
from rlaudit.training.live_judge import LiveJudge
from rlaudit.training.tracker_keys import ERRORS_KEY, log_judgement

logger = logging.getLogger(__name__)

__all__ = ["ROW_FIELDS", "MonitorCallback", "MonitorCallbackConfig"]


class MonitorCallback(TrainerCallback):
    """Record a GRPO run's rollouts and watch them for exploration hacking while it trains."""

    def __init__(
        self,
        trainer: Any,
        store: str | Path | RolloutStore | None = None,
        config: MonitorCallbackConfig | None = None,
        alert: Callable[[Finding], None] | None = None,
        **options: Any,
    ):
        self.config = config or MonitorCallbackConfig(**options)
        self.trainer = trainer
        self.faults = FaultLog()
        """Faults inside the monitor by kind (their total is `errors`, logged as `rlaudit/errors`)."""
        if store is None:
            store = Path(trainer.args.output_dir) / "rlaudit-store"
        accelerator = getattr(trainer, "accelerator", None)
        self.active = bool(getattr(accelerator, "is_main_process", True))
        """Only the main process records and judges (every process's rollouts, gathered); the others
        only send theirs."""
        if isinstance(store, RolloutStore) or not self.active:
            self.store = store if isinstance(store, RolloutStore) else RolloutStore(store, create=False)
        else:
            try:
                self.store = RolloutStore(store)
            except OSError as e:  # an unwritable place: rows wait in the buffer until it can be made
                self.faults.record(f"open store: {type(e).__name__}", e)
                self.store = RolloutStore(store, create=False)
        self.run = self.config.run or _run_name(trainer)
        self.live_name = f"live-{_safe(self.run)}"
        spill = Path(self.config.spill_dir or Path(trainer.args.output_dir) / "rlaudit-spill")
        self.buffer = RowBuffer(spill, self.config.max_buffered_rows, uuid.uuid4().hex[:12])
        self.alert = alert
        self.result: Judgement | None = None
        """The latest judgement of the run (the last one, after training, covers every step)."""
        self.first_flag_step: int | None = None
        """The first step whose pass found the run suspicious or worse (None: never)."""
        self.failed_detectors: list[str] = []
        """Detectors that raised in the latest pass (its logged verdict is then NaN, not `clean`)."""
        self._backoff = Backoff(self.config.every_steps, self.config.max_backoff)
        self._pending: list[pa.Table] = []  # captured, not handed to the writer yet
        self._pending_rows = 0
        self._rows = 0
        self._alerted: set[tuple[str, str | None]] = set()
        self._judge_seconds = 0.0
        self._last_judge_end = time.perf_counter()
        self._last_judge_step = 0
        self._finished: list[tuple[int, Judgement, list[str]]] = []  # passes done, not yet logged
        self._finished_lock = threading.Lock()
        self.worker = JudgeWorker(
            lambda tables: self._safely(self._flush, tables),
            lambda item: self._safely(self._judge, item),
            spill_dir=spill,
            max_rows=self.config.max_buffered_rows,
            on_error=lambda kind, e, rows: self.faults.record(kind, e, n=max(rows, 1)),
        )
        """The background writer and judge (`rlaudit.training.judge_worker`)."""
        self.probe = None if self.config.probe is None or not self.active else _live_probe(self.config)
        """The live probe (`rlaudit.training.live_probe.LiveProbe`) when `probe` is given."""
        self.live_judge = (
            LiveJudge(self.store, self.config.judge) if self.config.judge and self.active else None
        )
        """The background transcript judge (`rlaudit.training.live_judge`) when `judge` is given."""
        if self.active or world_size() > 1:  # every process takes part in gathering the rollouts
            self._wrap_rewards()

    # -- capture ------------------------------------------------------------------------------
    def _wrap_rewards(self) -> None:
        """Wrap the trainer's reward computation: it sees each generation batch exactly once."""
        original = self.trainer._calculate_rewards

        def calculate_rewards(inputs, prompts, completions, completion_ids_list):  # type: ignore[no-untyped-def]
            rewards_per_func = original(inputs, prompts, completions, completion_ids_list)
            self._safely(self._capture, inputs, prompts, completions, completion_ids_list, rewards_per_func)
            return rewards_per_func

        self.trainer._calculate_rewards = calculate_rewards

    def _capture(self, inputs, prompts, completions, completion_ids_list, rewards_per_func) -> None:  # type: ignore[no-untyped-def]
        table = None
        try:
            table = rollout_table(
                self.trainer, inputs, prompts, completions, completion_ids_list, rewards_per_func, self.probe
            )
        except Exception as e:  # counted; the gather below must still happen on every process
            self.faults.record(f"_capture: {type(e).__name__}", e)
        tables = gather_to_main(table, self.active)
        # Validation and defaults (`normalize`, a DuckDB pass) are the writer's: capture stays a few
        # Arrow conversions, cheap next to even a tiny model's GRPO step.
        self._pending.extend(tables)
        self._pending_rows += sum(t.num_rows for t in tables)

    @property
    def errors(self) -> int:
        """Faults inside the monitor so far (each counted, none raised into training)."""
        return self.faults.total

    # -- trainer events -----------------------------------------------------------------------------
    @fail_open("on_step_end")
    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if not self.active:
            return control
        self._apply_finished(control)
        due = self._backoff.due(state.global_step, self._last_judge_step)
        spent = time.perf_counter() - self._last_judge_end
        cheap_enough = self._judge_seconds <= self.config.max_overhead * spent
        free = self.config.queue_passes or not self.worker.pass_in_flight
        if due and cheap_enough and free:
            self._request(int(state.global_step), control)
        elif self._pending_rows >= self.config.write_rows:
            self._hand(None)
        # Every step, not only after a pass: a monitor whose passes all fail still reports its faults.
        self.trainer._metrics["train"][ERRORS_KEY].append(float(self.errors))
        return control

    @fail_open("on_train_end")
    def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if not self.active:
            return control
        self._request(int(state.global_step), control)
        if self.live_judge is not None:  # training is over: the last judge replies may now be waited for
            self._wait(control)
            self.live_judge.wait(self.live_judge.live.final_wait_s)
            self._request(int(state.global_step), control, submit=False)
            self.live_judge.close(timeout=0)
        self._wait(control)
        self.worker.close()
        return control

    @fail_open("on_save")
    def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        """Write every row captured so far, then save the monitor's state into the checkpoint the
        trainer has just written (the rows the store cannot take are saved with it)."""
        if self.active:
            with self.worker.write_lock:  # no write half done; the queued rows are written here
                queued, passes = self.worker.take_all()
                self._safely(self._flush, queued + self._take_pending())
                checkpoint_state.save(
                    self, checkpoint_state.checkpoint_dir(args.output_dir, state.global_step)
                )
            for item in passes:  # the passes that were queued still run, on what is now stored
                self.worker.hand([], item.judge_step, item.submit)
        return control

    @fail_open("on_train_begin")
    def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        """On a resumed run (the trainer has restored its state: global_step > 0), restore ours."""
        if self.active and state.global_step > 0:
            ckpt = checkpoint_state.checkpoint_dir(args.output_dir, state.global_step)
            with self.worker.write_lock:
                restored = checkpoint_state.restore(self, ckpt, state.global_step)
            if not restored:
                self.faults.record(f"resume: no monitor state in {ckpt.name}, later rows may be stored twice")
        return control

    # -- handing over (training thread) -----------------------------------------------------------
    def _take_pending(self) -> list[pa.Table]:
        pending, self._pending, self._pending_rows = self._pending, [], 0
        return pending

    def _hand(self, step: int | None, submit: bool = True) -> None:
        """Hand the captured rows (and a pass at `step`, unless None) to the writer."""
        tables = self._take_pending()
        if self.config.background:
            self.worker.hand(tables, step, submit)
            return
        self._safely(self._flush, tables)
        if step is not None:
            self._safely(self._judge, WorkItem(judge_step=step, submit=submit))

    def _request(self, step: int, control: Any, submit: bool = True) -> None:
        self._last_judge_step = step  # the back-off counts from the attempt
        self._hand(step, submit)
        if not self.config.background:
            self._apply_finished(control)

    def _wait(self, control: Any) -> None:
        """Wait (at most `final_wait_s`) for the worker to finish, then log what it found."""
        if not self.worker.wait_idle(self.config.final_wait_s):
            self.faults.record(f"final pass still running after final_wait_s={self.config.final_wait_s}")
        self._apply_finished(control)

    # -- writing and judging (the worker's thread) -------------------------------------------------
    def _flush(self, tables: list[pa.Table] | None = None) -> None:
        """Validate `tables` (default: what was captured; a bad row is quarantined, not its batch), then
        write all that is buffered; if the store fails, the rows stay buffered for the next flush."""
        pending = self._take_pending() if tables is None else tables
        for raw in concat_or_each(pending):
            good, bad = normalize_keeping_good(raw, self._normalize, self._rows + 1)
            self._rows += raw.num_rows
            for table in good:
                self.buffer.add(table, self.faults)
            if bad:
                self.faults.record("rows quarantined (bad values)", n=len(bad))
                quarantine(self.buffer.spill_dir / f"quarantine-{self.buffer.session}.jsonl", bad)
        if self.buffer.chunks:
            if not self.store.rollouts_dir.is_dir():  # not made yet, or the store was unwritable at start
                self.store = RolloutStore(self.store.path)
            self.buffer.write(lambda t, part: self.store.append_table(t, name=self.live_name, part=part))

    def _normalize(self, raw: pa.Table, first_row: int) -> pa.Table:
        return normalize(raw, source=f"live:{self.run}", first_row=first_row, run=self.run)

    def _judge(self, item: WorkItem) -> None:
        """One detector pass over the store (its rows are written first, by the worker)."""
        start = time.perf_counter()
        step = int(item.judge_step or 0)
        try:
            extra = None
            if self.live_judge is not None:  # never waits: its findings join when its replies have come
                if item.submit:
                    self.live_judge.submit(step)
                extra = self.live_judge.latest()
            result = judge(self.store, config=self.config.monitor, extra=extra)
            failed = [f.detector for f in result.findings if "error" in f.evidence]
            for name in failed:
                self.faults.record(f"detector {name} failed")
            with self._finished_lock:
                self._finished.append((step, result, failed))
            self._backoff.failures = 0
        except Exception:
            self._backoff.failures += 1
            raise
        finally:  # a failed pass costs time too: it counts against the overhead budget
            end = time.perf_counter()
            self._judge_seconds = end - start
            self._last_judge_end = end

    # -- results (training thread) ------------------------------------------------------------------
    def _apply_finished(self, control: Any) -> None:
        """Log, alert on and act on the passes that finished since the last step end."""
        with self._finished_lock:
            finished, self._finished = self._finished, []
        for step, result, failed in finished:
            self.result, self.failed_detectors = result, failed
            if self.first_flag_step is None and result.label != "clean":
                self.first_flag_step = step
            log_judgement(self.trainer._metrics["train"], result, failed)
            assert result.verdict is not None  # the monitor always judges
            self._alert_and_halt(result.findings, result.verdict, control)

    def _alert_and_halt(self, findings: list[Finding], verdict: Verdict, control: Any) -> None:
        alert_level = SEVERITIES[self.config.alert_on]
        for f in findings:
            key = (f.detector, f.split)
            if f.severity >= alert_level and key not in self._alerted:
                self._alerted.add(key)
                logger.warning("rlaudit: %s (%s): %s", f.detector, f.severity, f.summary)
                if self.alert is not None:
                    self._safely(self.alert, f)
                if self.config.webhook:
                    post_async(
                        self.config.webhook, {"run": self.run, "verdict": verdict.label, **f.to_dict()}
                    )
        halt = self.config.halt_on
        if halt is not None and any(f.severity >= SEVERITIES[halt] for f in findings):
            logger.warning("rlaudit: stopping training: verdict %s (halt_on=%s)", verdict.label, halt)
            control.should_training_stop = True

    def _safely(self, fn: Callable[..., Any], *args: Any) -> None:
        """Fail open: the monitor never takes the training run down with it."""
        try:
            fn(*args)
        except Exception as e:
            self.faults.record(f"{getattr(fn, '__name__', 'callback')}: {type(e).__name__}", e)


def _live_probe(config: MonitorCallbackConfig) -> Any:
    from rlaudit.training.live_probe import LiveProbe

    assert config.probe is not None
    return LiveProbe(config.probe, every_steps=config.probe_every, max_rollouts=config.probe_rollouts)


def _run_name(trainer: Any) -> str:
    name = getattr(trainer.args, "run_name", None)
    return str(name) if name else Path(trainer.args.output_dir).name


def _safe(name: str) -> str:
    """A run name fit to be a directory name (model/user text never decides a path as-is)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "run"
