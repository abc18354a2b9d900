"""Audits as independent jobs: one (model x test x seed) each, run on any executor (`rlaudit.executors`).

`run_audit` runs every test on a model already loaded in this process. Here each test is a job that
names its model and task instead of holding them (a task file's checker is code loaded from a file, a
model a few GB of tensors), loads them in the worker, and returns the test's `TestResult`; the driver
judges the results as `run_audit` does (`rlaudit.audits.judge_audit`). A test seeds every draw from
its own seed and leaves the model as it found it, so a test run alone on a freshly loaded model gives
what it gives inside `run_audit`: the same statistics, curves and findings on any executor
(``rlaudit audit --ray``; tested in `tests/audits/test_jobs.py`). Workers run torch on one thread
(`rlaudit.executors`: one CPU per job); compare with a `run_audit` on one thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlaudit.audits.base import TestResult
    from rlaudit.audits.registry import AuditConfig
    from rlaudit.executors import Executor, Job
    from rlaudit.judgement import Judgement
    from rlaudit.tasks import Task


class JobInputError(ValueError):
    """A job's model, task or checker cannot be loaded in the worker: bad input, not a crash."""


@dataclass(frozen=True)
class ModelSpec:
    """A model by name, loaded in the worker with `rlaudit.models.loading.load_model`."""

    name: str
    """An organism folder, a checkpoint, a PEFT adapter, or an embedded name (``tiny``, ``smollm2``)."""
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    batch_size: int | None = None
    """Sequences per generation call (None: each test's own)."""

    def load(self) -> tuple[Any, Any]:
        from rlaudit.models.loading import load_model

        try:
            return load_model(
                self.name, device=self.device, dtype=self.dtype, trust_remote_code=self.trust_remote_code
            )
        except (FileNotFoundError, ModuleNotFoundError, OSError, ValueError) as e:
            raise JobInputError(f"cannot load model '{self.name}': {' '.join(str(e).split())}") from None


@dataclass(frozen=True)
class TaskSpec:
    """A task as the CLI names it (`rlaudit.tasks.get_task`, then the user's cues and budget)."""

    name: str = "arith"
    columns: str | None = None
    checker: str | None = None
    train_cue: str | None = None
    deploy_cue: str | None = None
    max_new_tokens: int | None = None

    def build(self) -> Task:
        from rlaudit.tasks import get_task, with_cues

        try:
            task = get_task(self.name, columns=self.columns, checker=self.checker)
            if self.train_cue is not None or self.deploy_cue is not None:
                task = with_cues(task, self.train_cue, self.deploy_cue)
        except ValueError as e:  # CheckerError is a ValueError
            raise JobInputError(f"task {self.name!r}: {e}") from None
        if self.max_new_tokens is not None:
            task = dataclasses.replace(task, max_new_tokens=self.max_new_tokens)
        return task


def run_test(
    model: ModelSpec, test: str, task: TaskSpec, config: AuditConfig, reference: ModelSpec | None = None
) -> tuple[TestResult, int]:
    """One audit test (CLI name) on `model` under `config.seed`: its result and the model's parameter
    count (the judgement's provenance). Runs in a worker."""
    import torch

    from rlaudit.audits.registry import AUDITS
    from rlaudit.models.device import generation_batch_size

    torch.set_num_threads(1)
    lm, tokenizer = model.load()
    a = AUDITS[test]
    kwargs: dict[str, Any] = {"seed": config.seed}
    if reference is not None and a.takes_reference:
        kwargs["reference"] = reference.load()
    with generation_batch_size(model.batch_size):
        result = a.run(lm, tokenizer, task.build(), config[test], **kwargs)
    return result, int(sum(p.numel() for p in lm.parameters()))


def audit_jobs(
    models: Sequence[ModelSpec],
    tests: Sequence[str],
    task: TaskSpec,
    config: AuditConfig,
    *,
    seeds: Sequence[int] | None = None,
    reference: ModelSpec | None = None,
) -> list[Job]:
    """One job per (model, test, seed), in that order (`seeds` default: `config.seed` alone)."""
    jobs: list[Job] = []
    for m in models:
        for test in tests:
            for seed in seeds if seeds is not None else (config.seed,):
                seeded = dataclasses.replace(config, configs=dict(config.configs), seed=seed)
                jobs.append((run_test, (m, test, task, seeded, reference)))
    return jobs


def run_audit_jobs(
    model: ModelSpec,
    task: TaskSpec,
    tests: str | Sequence[str] | None,
    config: AuditConfig,
    executor: Executor,
    *,
    reference: ModelSpec | None = None,
) -> Judgement:
    """`run_audit` with each test a job on `executor`: the same judgement (statistics, curves,
    findings, verdict), its provenance naming the executor."""
    from rlaudit.audits import judge_audit, parse_tests
    from rlaudit.judgement import Provenance, describe_model
    from rlaudit.progress import bar_total

    names = parse_tests(tests)
    built = task.build()  # a bad task or checker is found here, before any job starts
    cues = {"train_cue": built.train_cue, "deploy_cue": built.deploy_cue}
    provenance = Provenance.begin(
        configs={
            "audit": dataclasses.asdict(config),
            "cues": cues,
            "executor": {"name": type(executor).__name__, "workers": executor.workers},
        },
        seeds={"seed": config.seed},
    )
    progress = bar_total(len(names), "audit")
    try:
        jobs = audit_jobs([model], names, task, config, reference=reference)
        done = executor.map(jobs, lambda: progress.update(1))
    finally:
        progress.close()
    from rlaudit.audits.registry import AUDITS

    results = {AUDITS[cli].name: result for cli, (result, _) in zip(names, done, strict=True)}
    provenance.model = describe_model(model.name)
    provenance.model["parameters"] = done[0][1] if done else None
    return judge_audit(built, results, provenance)
