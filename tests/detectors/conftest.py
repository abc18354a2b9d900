from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from rlaudit.detectors import DetectorConfig, run_detectors
from rlaudit.findings import Finding
from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.signals import Signals, compute_signals
from rlaudit.synthetic import Behaviour, synthetic_rollouts, write_jsonl

MakeSignals = Callable[..., Signals]


@pytest.fixture
def make_signals(tmp_path: Path) -> MakeSignals:
    """Signals of synthetic runs: `make_signals({"target": LOCKED, "control": HONEST}, ...)`;
    `runs={"a": {...}, "b": {...}}` for several runs; `phases=[({...}, n_steps), ...]` for one run
    whose behaviour changes between consecutive phases; `cues={"train_cue": {...}, ...}` for one run
    whose prompts carry a condition, and `cue_phases=[({"train_cue": {...}, ...}, n_steps), ...]` for
    one whose behaviour under each cue changes between phases."""
    counter = iter(range(1000))

    def make(
        behaviours: dict[str, Behaviour] | None = None,
        *,
        runs: dict[str, dict[str, Behaviour]] | None = None,
        phases: list[tuple[dict[str, Behaviour], int]] | None = None,
        cues: dict[str, dict[str, Behaviour]] | None = None,
        cue_phases: list[tuple[dict[str, dict[str, Behaviour]], int]] | None = None,
        seed: int = 0,
        **kw,
    ) -> Signals:
        store = RolloutStore(tmp_path / f"store{next(counter)}")
        if cues is not None:
            cue_phases = [(cues, kw.pop("n_steps", 20))]
        if cue_phases is not None:  # one run whose prompts carry a condition: {"train_cue": {...}, ...}
            tables, first, i = [], 0, 0
            for by_cue, n_steps in cue_phases:
                for condition, bs in by_cue.items():
                    t = synthetic_rollouts(
                        bs, run="run", seed=seed + i, n_steps=n_steps, first_step=first, **kw
                    )
                    tables.append(t.append_column("condition", pa.array([condition] * t.num_rows)))
                    i += 1
                first += n_steps
            path = tmp_path / f"cued-{next(counter)}.jsonl"
            write_jsonl(pa.concat_tables(tables), str(path))
            ingest(path, store)
        if phases is not None:
            first, tables = 0, []
            for i, (bs, n_steps) in enumerate(phases):
                tables.append(
                    synthetic_rollouts(bs, run="run", seed=seed + i, n_steps=n_steps, first_step=first, **kw)
                )
                first += n_steps
            path = tmp_path / f"run-{next(counter)}.jsonl"
            write_jsonl(pa.concat_tables(tables), str(path))
            ingest(path, store)
        for i, (run, bs) in enumerate((runs or ({"run": behaviours} if behaviours else {})).items()):
            path = tmp_path / f"{run}-{next(counter)}.jsonl"
            write_jsonl(synthetic_rollouts(bs, run=run, seed=seed + i, **kw), str(path))
            ingest(path, store)
        return compute_signals(store)

    return make


@pytest.fixture
def detect() -> Callable[..., list[Finding]]:
    """`detect(signals, "exploration_starvation")`: that detector's findings, through `run_detectors`."""

    def run(signals: Signals, name: str, cfg: DetectorConfig | None = None) -> list[Finding]:
        return [f for f in run_detectors(signals, cfg) if f.detector == name]

    return run


@pytest.fixture
def family_signals(tmp_path: Path) -> Callable[[dict[str, list[bool]], int], Signals]:
    """Signals of one unlabelled run whose prompt families are given group by group:
    `family_signals({"carry": [False, True, ...], "other": [...]}, steps)` spreads each family's groups
    evenly over `steps` steps; a group passes (8 identical right completions) or fails (8 identical wrong
    ones), so every group is confident and the family's level is the share of its groups that pass."""
    counter = iter(range(1000))

    def make(groups: dict[str, list[bool]], steps: int) -> Signals:
        rows: dict[str, list] = {"run": [], "step": [], "prompt": [], "completion": [], "reward": []}
        for family, passes in groups.items():
            for i, passed in enumerate(passes):
                a, b = 10 + i, 20 + i  # numbers are masked out of families: one family, distinct prompts
                for _ in range(8):
                    rows["run"].append("run")
                    rows["step"].append(i * steps // len(passes))
                    rows["prompt"].append(f"[{family}] {a}+{b}=")
                    rows["completion"].append(str(a + b) if passed else str(a + b - 10))
                    rows["reward"].append(1.0 if passed else 0.0)
        path = tmp_path / f"families-{next(counter)}.jsonl"
        write_jsonl(pa.table(rows), str(path))
        store = RolloutStore(tmp_path / f"fstore{next(counter)}")
        ingest(path, store)
        return compute_signals(store)

    return make
