"""The executors (`rlaudit.executors`): every one returns the jobs' results in job order; Ray's on a
real local cluster (slow: starting one takes seconds)."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest

from rlaudit.executors import EXECUTORS, ExecutorUnavailable, check_reachable, open_executor

# Jobs from the standard library: a spawned process or a Ray worker imports them by name (a test module
# is not importable there). Uneven sizes, so jobs finish out of order.
JOBS = [(math.comb, (4000 - 400 * i, 1000 + 50 * i)) for i in range(8)]
EXPECTED = [math.comb(*args) for _, args in JOBS]


def test_registry_and_bad_arguments() -> None:
    assert {"local", "process", "ray"} <= set(EXECUTORS)
    with pytest.raises(ValueError, match="unknown executor"):
        open_executor("slurm")
    with pytest.raises(ValueError, match="workers"):
        open_executor("local", workers=0)
    with pytest.raises(ValueError, match="ray executor only"):
        open_executor("process", address="127.0.0.1:6379")


@pytest.mark.parametrize("name", ["local", "process"])
def test_results_in_job_order(name: str) -> None:
    done: list[int] = []
    ex = open_executor(name, workers=2)
    try:
        results = ex.map(JOBS, on_done=lambda: done.append(1))
        assert results == EXPECTED and len(done) == len(JOBS)
        assert ex.map([]) == []
        with pytest.raises(ValueError):
            ex.map([(math.sqrt, (-1,))])
        pids = set(ex.map([(os.getpid, ())] * 4))
    finally:
        ex.close()
    assert (pids == {os.getpid()}) == (name == "local")


def test_ray_missing_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ExecutorUnavailable, match=r"rlaudit\[ray\]"):
        open_executor("ray")


@pytest.mark.slow
def test_ray_on_a_local_cluster() -> None:
    """A real local Ray cluster of 2 CPUs, started and shut down by the executor: same results, in
    order, from other processes, and a job's error raised here."""
    ray = pytest.importorskip("ray")
    ex = open_executor("ray", workers=2)
    try:
        assert ray.is_initialized()
        done: list[int] = []
        results = ex.map(JOBS, on_done=lambda: done.append(1))
        assert results == EXPECTED and len(done) == len(JOBS)
        assert os.getpid() not in set(ex.map([(os.getpid, ())] * 4))
        with pytest.raises(ValueError):
            ex.map([(math.sqrt, (-1,))])
    finally:
        ex.close()
    assert not ray.is_initialized()


def test_an_address_where_nothing_listens_fails_fast() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: a connection is refused
        with pytest.raises(ExecutorUnavailable, match="no Ray cluster answers"):
            check_reachable(f"127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(ExecutorUnavailable, match="HOST:PORT"):
        check_reachable("not an address")
    check_reachable("auto")  # left to Ray
    check_reachable("ray://head:10001")
