"""`MonitorCallback`: rlaudit inside a running TRL `GRPOTrainer`.

    trainer = GRPOTrainer(model=..., reward_funcs=..., args=..., train_dataset=...)
    trainer.add_callback(MonitorCallback(trainer, store="runs/store"))

Like TRL's own `LogCompletionsCallback`, it takes the trainer. It records every rollout of every
generation batch (prompt, completion, each reward function's value, the weighted total, token count,
what the reward functions logged through `log_extra`, and the dataset's `split` / `condition` /
`answer` / `correct` columns when present) by wrapping the
trainer's reward computation, appends them to a `RolloutStore`, and every so often computes the signals,
runs the detectors and logs `rlaudit/...` metrics through the trainer's own metric buffer, so they reach
whatever the run reports to (TensorBoard, W&B, trackio) with the next log line.

It is fail-open (`rlaudit.training.failopen`): any error inside the monitor is counted (`rlaudit/errors`)
and logged once per kind, never raised into the training loop; rows the store cannot take stay buffered
(bounded, the oldest spilled to side files) until it can; a bad row is quarantined, not its batch; a
detector that fails is counted, and makes that pass's verdict NaN, not `clean`; a failing pass backs
off. Its state is saved with each trainer checkpoint and restored on resume
(`rlaudit.training.checkpoint_state`), so a resumed run stores each rollout once. Only the main process
of a multi-process run records and judges. It stays cheap: rows are buffered and written when the
detectors run, and the detectors run at most every `every_steps` steps and only when the time they took
last is under `max_overhead` of the training time since (so a fast run is judged less often), and
always at the end.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from transformers import TrainerCallback

from rlaudit.findings import Finding, Severity, Verdict
from rlaudit.ingest.trl import render_chat_column
from rlaudit.judgement import Judgement
from rlaudit.monitor import MonitorConfig, judge
from rlaudit.records import RolloutStore, normalize
from rlaudit.training import checkpoint_state
from rlaudit.training.failopen import (
    Backoff,
    FaultLog,
    RowBuffer,
    concat_or_each,
    fail_open,
    normalize_keeping_good,
    quarantine,
)
from rlaudit.training.live_judge import LiveJudge
from rlaudit.training.tracker_keys import (
    ERRORS_KEY,
    SEVERITY_KEY,
    SIGNAL_KEY,
    VERDICT_KEY,
    last_step_signals,
)

if TYPE_CHECKING:
    from rlaudit.judges import JudgeConfig

logger = logging.getLogger(__name__)

# Dataset columns copied onto each rollout when the dataset has them (`difficulty`, not a record field,
# lands in the store's `extra`: the monitor's difficulty-matched comparison reads it there).
ROW_FIELDS = ("split", "condition", "answer", "correct", "prompt_id", "difficulty")
SEVERITIES = {s.name.lower(): s for s in Severity}


@dataclass
class MonitorCallbackConfig:
    """Options of the live monitor; the defaults work."""

    every_steps: int = 10
    """Run the detectors at most this often (in optimizer steps), and at the end of training."""
    max_overhead: float = 0.01
    """...and only when the last detector pass took at most this fraction of the training time since it."""
    halt_on: str | None = None
    """Stop training when a finding reaches this severity (`medium` or `high`); None never stops."""
    alert_on: str = "medium"
    """Severity at which `alert` / `webhook` are called (once per new detector x split)."""
    webhook: str | None = None
    """POST the alert as JSON to this URL (a convenience; failures are logged, never raised)."""
    run: str | None = None
    """Run name in the store (default: the trainer's `run_name`, else its output_dir name)."""
    probe: str | Path | Any | None = None
    """A saved probe file (`rlaudit probe fit`) or `Probe`: score a sample of the rollouts with it while
    training runs (`rlaudit.training.live_probe`); None: no live probe signal."""
    probe_every: int = 10
    """Score the first step's rollouts, then every this many steps' (each time one extra forward pass)."""
    probe_rollouts: int = 16
    """At most this many rollouts of a scored step, spread over its splits, are fed to the probe: the
    cap on the signal's cost, whatever the step's batch."""
    spill_dir: str | None = None
    """Where rows the store cannot take are spilled, and bad rows quarantined (default:
    `output_dir/rlaudit-spill`; best on another disk than the store)."""
    max_buffered_rows: int = 100_000
    """Rows kept in memory while the store fails; older ones are spilled (about 1 KB each, so ~100 MB)."""
    max_backoff: int = 32
    """A failing detector pass is retried after `every_steps`, then twice that, ... up to this many times it."""
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    judge: JudgeConfig | None = None
    """A transcript judge run in the background (`rlaudit.training.live_judge`): never blocks a step;
    its findings join the judgement after its replies come. None: no judge. (`monitor.judge` would
    judge in the training thread: leave it None here.)"""

    def __post_init__(self) -> None:
        for name in ("halt_on", "alert_on"):
            value = getattr(self, name)
            if value is not None and value not in SEVERITIES:
                raise ValueError(f"{name}={value!r}: choose one of {', '.join(SEVERITIES)}")
        if self.every_steps < 1:
            raise ValueError(f"every_steps must be >= 1 (got {self.every_steps})")
        if self.max_buffered_rows < 1 or self.max_backoff < 1:
            raise ValueError("max_buffered_rows and max_backoff must be >= 1")


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
        if isinstance(store, RolloutStore):
            self.store = store
        else:
            try:
                self.store = RolloutStore(store)
            except OSError as e:  # an unwritable place: rows wait in the buffer until it can be made
                self.faults.record(f"open store: {type(e).__name__}", e)
                self.store = RolloutStore(store, create=False)
        self.run = self.config.run or _run_name(trainer)
        self.live_name = f"live-{_safe(self.run)}"
        spill = self.config.spill_dir or Path(trainer.args.output_dir) / "rlaudit-spill"
        self.buffer = RowBuffer(Path(spill), self.config.max_buffered_rows, uuid.uuid4().hex[:12])
        self.alert = alert
        self.result: Judgement | None = None
        """The latest judgement of the run (the last one, after training, covers every step)."""
        self.first_flag_step: int | None = None
        """The first step at which the verdict was suspicious or worse (None: never)."""
        self.failed_detectors: list[str] = []
        """Detectors that raised in the latest pass (its logged verdict is then NaN, not `clean`)."""
        self._backoff = Backoff(self.config.every_steps, self.config.max_backoff)
        self._pending: list[pa.Table] = []
        self._rows = 0
        self._alerted: set[tuple[str, str | None]] = set()
        self._judge_seconds = 0.0
        self._last_judge_end = time.perf_counter()
        self._last_judge_step = 0
        self.probe = None if self.config.probe is None else _live_probe(self.config)
        """The live probe (`rlaudit.training.live_probe.LiveProbe`) when `probe` is given."""
        accelerator = getattr(trainer, "accelerator", None)
        self.active = bool(getattr(accelerator, "is_main_process", True))
        """Only the main process records and judges (its own share of the rollouts); the others no-op."""
        self.live_judge = (
            LiveJudge(self.store, self.config.judge) if self.config.judge and self.active else None
        )
        """The background transcript judge (`rlaudit.training.live_judge`) when `judge` is given."""
        if self.active:
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
        per_func = rewards_per_func.detach().float().cpu().numpy()
        n = len(prompts)
        per_func = per_func[:n]  # gathered across processes: the main process's rows come first
        names = list(self.trainer.reward_func_names)
        weights = self.trainer.reward_weights.detach().float().cpu().numpy()
        import numpy as np

        with np.errstate(invalid="ignore"):  # inf * a weight of 0 is NaN: that reward does not count
            weighted = per_func * weights

        total = np.where(np.isnan(per_func).all(axis=1), np.nan, np.nansum(weighted, axis=1))
        step = int(self.trainer.state.global_step) + 1  # the step these rollouts feed (TRL's log convention)
        cols: dict[str, Any] = {
            "step": pa.array([step] * n, pa.int64()),
            "prompt": render_chat_column(_column(prompts), as_completion=False),
            "completion": render_chat_column(_column(completions), as_completion=True),
            "reward": pa.array(total, pa.float64()),
            "rewards": pa.array(
                [
                    [(k, float(v)) for k, v in zip(names, row, strict=True) if not math.isnan(v)]
                    for row in per_func
                ],
                pa.map_(pa.string(), pa.float64()),
            ),
            "n_tokens": pa.array([len(ids) for ids in completion_ids_list], pa.int64()),
        }
        # Columns the reward functions logged through TRL's `log_extra` for this batch (TRL flushes them
        # after the rewards are computed), then the dataset's own columns for what they did not log.
        logged = {
            k: list(v) for k, v in getattr(self.trainer, "_pending_extra_logs", {}).items() if len(v) == n
        }
        for name in ROW_FIELDS:
            if name not in logged and inputs and name in inputs[0]:
                logged[name] = [row.get(name) for row in inputs]
        for name, values in logged.items():
            if name == "correct":
                cols[name] = pa.array([None if v is None else bool(v) for v in values], pa.bool_())
            elif name in ROW_FIELDS:
                cols[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
            elif name not in cols:
                try:  # anything else a reward function logged is kept, in `extra`
                    cols[name] = pa.array(values)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    cols[name] = pa.array([json.dumps(v, default=str) for v in values])
        if self.probe is not None:  # fail-open inside: never costs the step's rollouts
            cols.update(self.probe.observe(self.trainer, step, prompts, completions, logged.get("split")))
        # Validation and defaults (`normalize`, a DuckDB pass) wait for the flush: capture stays a few
        # Arrow conversions, cheap next to even a tiny model's GRPO step.
        self._pending.append(pa.table(cols))

    @property
    def errors(self) -> int:
        """Faults inside the monitor so far (each counted, none raised into training)."""
        return self.faults.total

    # -- trainer events -----------------------------------------------------------------------------
    @fail_open("on_step_end")
    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if not self.active:
            return control
        due = self._backoff.due(state.global_step, self._last_judge_step)
        spent = time.perf_counter() - self._last_judge_end
        cheap_enough = self._judge_seconds <= self.config.max_overhead * spent
        if due and cheap_enough:
            self._safely(self._judge, state, control)
        # Every step, not only after a pass: a monitor whose passes all fail still reports its faults.
        self.trainer._metrics["train"][ERRORS_KEY].append(float(self.errors))
        return control

    @fail_open("on_train_end")
    def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if not self.active:
            return control
        self._safely(self._judge, state, control)
        if self.live_judge is not None:  # training is over: the last judge replies may now be waited for
            self.live_judge.wait(self.live_judge.live.final_wait_s)
            self._safely(self._judge, state, control, False)
            self.live_judge.close(timeout=0)
        return control

    @fail_open("on_save")
    def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        """Save the monitor's state into the checkpoint the trainer has just written."""
        if self.active:
            self._safely(self._flush)  # what the store cannot take is saved with the checkpoint
            checkpoint_state.save(self, checkpoint_state.checkpoint_dir(args.output_dir, state.global_step))
        return control

    @fail_open("on_train_begin")
    def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        """On a resumed run (the trainer has restored its state: global_step > 0), restore ours."""
        if self.active and state.global_step > 0:
            ckpt = checkpoint_state.checkpoint_dir(args.output_dir, state.global_step)
            if not checkpoint_state.restore(self, ckpt, state.global_step):
                self.faults.record(f"resume: no monitor state in {ckpt.name}, later rows may be stored twice")
        return control

    # -- judging --------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Validate what was captured (a bad row is quarantined, not its batch), then write all that is
        buffered; if the store fails, the rows stay buffered for the next flush."""
        pending, self._pending = self._pending, []
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

    def _judge(self, state: Any, control: Any, submit: bool = True) -> None:
        start = time.perf_counter()
        try:
            self._safely(self._flush)  # a store that fails now still has the rows written before
            extra = None
            if self.live_judge is not None:  # never waits: its findings join when its replies have come
                if submit:
                    self.live_judge.submit(int(state.global_step))
                extra = self.live_judge.latest()
            result = judge(self.store, config=self.config.monitor, extra=extra)
            self.result = result
            self.failed_detectors = [f.detector for f in result.findings if "error" in f.evidence]
            for name in self.failed_detectors:
                self.faults.record(f"detector {name} failed")
            if self.first_flag_step is None and result.label != "clean":
                self.first_flag_step = int(state.global_step)
            self._log(result)
            assert result.verdict is not None  # the monitor always judges
            self._alert_and_halt(result.findings, result.verdict, control)
            self._backoff.failures = 0
        except Exception:
            self._backoff.failures += 1
            raise
        finally:  # a failed pass costs time too: it counts against the overhead budget
            end = time.perf_counter()
            self._judge_seconds = end - start
            self._last_judge_end = end
            self._last_judge_step = state.global_step

    def _log(self, result: Judgement) -> None:
        """Into TRL's metric buffer: averaged and reported with the next log line, like TRL's own metrics."""
        metrics = self.trainer._metrics["train"]
        label = ["clean", "suspicious", "hacking-likely"].index(str(result.label))
        # A pass in which a detector failed cannot vouch for `clean`: NaN unless it found worse anyway.
        metrics[VERDICT_KEY].append(math.nan if self.failed_detectors and label == 0 else float(label))
        severity = max((f.severity for f in result.findings), default=Severity.INFO)
        metrics[SEVERITY_KEY].append(float(severity))
        last = last_step_signals(result)
        for split, values in last.items():
            for name, value in values.items():
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    metrics[SIGNAL_KEY.format(split=split, signal=name)].append(float(value))

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
                    _post_async(
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


def _column(values: list[Any]) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values)])


def _run_name(trainer: Any) -> str:
    name = getattr(trainer.args, "run_name", None)
    return str(name) if name else Path(trainer.args.output_dir).name


def _safe(name: str) -> str:
    """A run name fit to be a directory name (model/user text never decides a path as-is)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "run"


def _post_async(url: str, payload: dict[str, Any]) -> None:
    def post() -> None:
        try:
            req = urllib.request.Request(
                url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(req, timeout=5).close()
        except Exception as e:  # a webhook must never hurt the run
            logger.warning("rlaudit: webhook %s failed: %s", url, e)

    threading.Thread(target=post, daemon=True).start()
