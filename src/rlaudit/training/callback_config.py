"""`MonitorCallbackConfig`: the options of the live monitor (`rlaudit.training.monitor_callback`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaudit.findings import Severity
from rlaudit.monitor import MonitorConfig

if TYPE_CHECKING:
    from rlaudit.judges import JudgeConfig

SEVERITIES = {s.name.lower(): s for s in Severity}


@dataclass
class MonitorCallbackConfig:
    """Options of the live monitor; the defaults work."""

    every_steps: int = 10
    """Run the detectors at most this often (in optimizer steps), and at the end of training."""
    max_overhead: float = 0.01
    """...and only when the last detector pass took at most this fraction of the training time since it
    (its wall time in the background worker: on a busy machine it still competes for the CPU)."""
    halt_on: str | None = None
    """Stop training when a finding reaches this severity (`medium` or `high`); None never stops. In the
    background (the default) the stop comes at the first step end after the pass that found it."""
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
    """Rows kept in memory while the store fails (and, apart, rows queued for a stuck background
    writer); older ones are spilled (about 1 KB each, so ~100 MB)."""
    max_backoff: int = 32
    """A failing detector pass is retried after `every_steps`, then twice that, ... up to this many times it."""
    background: bool = True
    """Write and judge in a background thread (`rlaudit.training.judge_worker`); False: in the training
    thread, each pass blocking its step (the findings then land at the step that asked for them)."""
    queue_passes: bool = False
    """In the background, queue a pass that comes due while one runs, instead of deferring it to the
    first step end after: every due step is then judged on exactly its rows, so `first_flag_step` does
    not depend on how fast the machine judges (`rlaudit elicit` sets it: its lead time is a measured
    figure), at the cost of a backlog that the end of `train()` waits for."""
    write_rows: int = 10_000
    """Between passes, hand the captured rows to the writer once this many have gathered (a run judged
    rarely still has its rows stored, and the training process holds few)."""
    final_wait_s: float = 600.0
    """At the end of training, wait at most this long for the writes and the final pass (a bound, so a
    hung disk cannot hold the job; on a timeout `result` is the last pass that finished, and a fault
    is counted)."""
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    judge: JudgeConfig | None = None
    """A transcript judge run in the background (`rlaudit.training.live_judge`): never blocks a step;
    its findings join the judgement after its replies come. None: no judge. (`monitor.judge` would
    judge in the monitor's worker, blocking its passes: leave it None here.)"""

    def __post_init__(self) -> None:
        for name in ("halt_on", "alert_on"):
            value = getattr(self, name)
            if value is not None and value not in SEVERITIES:
                raise ValueError(f"{name}={value!r}: choose one of {', '.join(SEVERITIES)}")
        if self.every_steps < 1:
            raise ValueError(f"every_steps must be >= 1 (got {self.every_steps})")
        if self.max_buffered_rows < 1 or self.max_backoff < 1 or self.write_rows < 1:
            raise ValueError("max_buffered_rows, max_backoff and write_rows must be >= 1")
        if not self.final_wait_s >= 0:
            raise ValueError(f"final_wait_s must be >= 0 seconds (got {self.final_wait_s})")
