"""The live probe signal: a saved probe scoring a sample of a GRPO step's rollouts while RL runs.

    trainer.add_callback(MonitorCallback(trainer, probe="probe.json", probe_every=5))

Every `every_steps` steps (the first step, then every N-th), `LiveProbe.observe` takes at most
`max_rollouts` of the step's rollouts, spread over the splits (a seeded draw per step, so a re-run
scores the same rows), feeds each prompt + completion to the policy once more, teacher-forced, with
the probe's layer hooked (`rlaudit.interp.activations`: no gradients, the model in eval mode for the
pass and put back in the mode it was in), and scores the pooled activations with the probe
(probability of the probe's label 1, e.g. "told to underperform" for a contrast probe). It returns
the scores as a ``probe_score`` column of the step's rollouts (NaN-free: unscored rows are null), so
they are stored with the rollouts (in their ``extra`` JSON, where the offline monitor's
``probe_score`` step signal reads them, `rlaudit.detectors.probe_score`), and it writes each split's
mean into the trainer's metric buffer as ``rlaudit/probe_score/<split>``, reported with the next log
line beside the other ``rlaudit/...`` metrics.

Prompts are fed as TRL fed them: a plain-string prompt verbatim (TRL applies no template to one), a
chat message list through the tokenizer's chat template.

Only the main process monitors (`MonitorCallback`), so only it scores; under FSDP or DeepSpeed (a
model sharded across processes, where one process cannot run a forward pass alone) the probe refuses
to run, and says so once. It never raises into the trainer: any error while scoring (a probe for another model's width, a
completion the pooling cannot read, out of memory) is logged once with its traceback, counted in
`errors` (``rlaudit/probe_errors``), and the step's rows go unscored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rlaudit.interp.probes import Probe

logger = logging.getLogger(__name__)

SCORE_COLUMN = "probe_score"
"""The rollout column (kept in the store's ``extra`` JSON) holding a rollout's probe score."""
SCORE_KEY = "rlaudit/probe_score/{split}"
ERRORS_KEY = "rlaudit/probe_errors"
TRACKER_KEYS = (
    (
        SCORE_KEY.format(split="<split>"),
        "mean probe score (probability of the probe's label 1) of the split's sampled rollouts, on the "
        "steps the live probe scores",
        "probability",
    ),
    (
        ERRORS_KEY,
        "errors of the live probe so far (each step's rows left unscored, training goes on)",
        "count",
    ),
)
"""`(key, meaning, unit)` of the metrics the live probe logs (with `MonitorCallback(probe=...)`)."""


class LiveProbe:
    """Score a sample of each due step's rollouts with a saved probe (see the module docstring)."""

    def __init__(self, probe: Probe | str | Path, *, every_steps: int, max_rollouts: int, seed: int = 0):
        if every_steps < 1:
            raise ValueError(f"probe_every must be >= 1 (got {every_steps}); e.g. 5")
        if max_rollouts < 1:
            raise ValueError(f"probe_rollouts must be >= 1 (got {max_rollouts}); e.g. 16")
        # A missing or malformed file is the user's to fix before training starts: ProbeFileError here.
        self.probe = probe if isinstance(probe, Probe) else Probe.load(probe)
        self.every_steps = every_steps
        self.max_rollouts = max_rollouts
        self.seed = seed
        self.errors = 0
        """Steps whose scoring failed (logged once, then counted)."""
        self.seconds = 0.0
        """Wall-clock seconds spent scoring so far (the signal's overhead)."""
        self.cpu_seconds = 0.0
        """CPU seconds of the process spent scoring so far (the overhead on a shared, loaded machine)."""
        self.scored_steps: list[int] = []

    def state(self) -> dict[str, Any]:
        """The counters a trainer checkpoint keeps (`rlaudit.training.checkpoint_state`), JSON-ready."""
        return {
            "errors": self.errors,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "scored_steps": list(self.scored_steps),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore `state`'s counters on resume, so errors and overhead count the whole run."""
        self.errors = int(state["errors"])
        self.seconds = float(state["seconds"])
        self.cpu_seconds = float(state["cpu_seconds"])
        self.scored_steps = [int(s) for s in state["scored_steps"]]

    def due(self, step: int) -> bool:
        """Whether `step` (1-based, TRL's log convention) is scored: the first, then every N-th."""
        return (step - 1) % self.every_steps == 0

    def sample(self, step: int, splits: Sequence[str | None]) -> list[int]:
        """At most `max_rollouts` row indices, drawn in turn from each split (sorted by name) so every
        split of the step is represented; seeded by (seed, step). Sorted."""
        rng = np.random.default_rng([self.seed, step])
        by_split: dict[str, list[int]] = {}
        for i, s in enumerate(splits):
            by_split.setdefault("" if s is None else str(s), []).append(i)
        queues = [list(rng.permutation(rows)) for _, rows in sorted(by_split.items())]
        chosen: list[int] = []
        while len(chosen) < self.max_rollouts and any(queues):
            for q in queues:
                if q and len(chosen) < self.max_rollouts:
                    chosen.append(int(q.pop()))
        return sorted(chosen)

    def observe(
        self,
        trainer: Any,
        step: int,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        splits: Sequence[str | None] | None,
    ) -> dict[str, pa.Array]:
        """The ``probe_score`` column of one generation batch's rows (`{}` when `step` is not due or
        scoring failed), after logging each split's mean score into `trainer`'s metric buffer."""
        if not self.due(step):
            return {}
        start, cpu = time.perf_counter(), time.process_time()
        try:
            scores = self._score(trainer, step, prompts, completions, splits)
        except Exception:
            self.errors += 1
            if self.errors == 1:
                logger.exception("rlaudit live probe failed at step %d (training continues; counted)", step)
            scores = None
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu
        metrics = trainer._metrics["train"]
        metrics[ERRORS_KEY].append(float(self.errors))
        if scores is None:
            return {}
        self.scored_steps.append(step)
        labels = ["all" if s is None else str(s) for s in (splits or [None] * len(scores))]
        for split in sorted(set(labels)):
            values = scores[[i for i, s in enumerate(labels) if s == split]]
            values = values[np.isfinite(values)]
            if len(values):
                metrics[SCORE_KEY.format(split=split)].append(float(values.mean()))
        return {SCORE_COLUMN: pa.array([None if np.isnan(v) else float(v) for v in scores], pa.float64())}

    def _score(
        self,
        trainer: Any,
        step: int,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        splits: Sequence[str | None] | None,
    ) -> np.ndarray:
        """Per row: the probe's probability of label 1 for the sampled rows, NaN for the rest."""
        from rlaudit.interp.activations import activations

        texts = [_completion_text(c) for c in completions]
        # completion_mean pools completion tokens: a row that produced none cannot be scored.
        usable = [i for i, t in enumerate(texts) if t or self.probe.pooling != "completion_mean"]
        rows_splits = list(splits) if splits is not None else [None] * len(prompts)
        chosen = [usable[i] for i in self.sample(step, [rows_splits[i] for i in usable])]
        out = np.full(len(prompts), np.nan)
        if not chosen:
            return out
        sharded = str(getattr(getattr(trainer.accelerator, "state", None), "distributed_type", ""))
        if "FSDP" in sharded or "DEEPSPEED" in sharded:
            # A forward pass on one process of a sharded model waits for the others, which are not
            # scoring (only the main process monitors): refuse rather than hang the run.
            raise RuntimeError(f"the live probe needs the whole model on one process; not under {sharded}")
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
        sample_prompts = [prompts[i] for i in chosen]
        chat = not all(isinstance(p, str) for p in sample_prompts)
        pooled = activations(
            model,
            tokenizer,
            sample_prompts,
            [texts[i] for i in chosen],
            layers=(self.probe.layer,),
            pooling=self.probe.pooling,
            batch_size=len(chosen),  # one extra forward pass (halved and retried only on out-of-memory)
            chat=chat,
        )
        out[chosen] = self.probe.predict_proba(pooled[self.probe.layer])
        return out


def _completion_text(completion: Any) -> str:
    """A TRL completion as text: a string as it is, a conversational one's message contents joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)
