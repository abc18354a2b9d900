"""The bench's jobs run on `BenchConfig.executor` (issue 15): results in job order on every executor, a
barrier's jobs after every other, and a bad executor refused by the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaudit.bench.cases import BenchConfig, _pool

# dict(pairs) as the job: a builtin, so a spawned worker can import it by name.
JOBS = [(dict, ((("i", i), ("last", i in (1, 4))),)) for i in range(6)]


@pytest.mark.parametrize("executor", ["local"])  # the process pool itself: tests/test_executors.py
def test_pool_on_each_executor(tmp_path: Path, executor: str) -> None:
    cfg = BenchConfig(out=tmp_path, executor=executor, jobs=2)
    results = _pool(cfg, "test", JOBS, barrier=lambda job: dict(job[1][0])["last"])
    assert [r["i"] for r in results] == list(range(6))


def test_config_refuses_unknown_executor_and_stray_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown executor"):
        BenchConfig(out=tmp_path, executor="slurm")
    with pytest.raises(ValueError, match="ray_address"):
        BenchConfig(out=tmp_path, ray_address="127.0.0.1:6379")
