"""Where independent jobs run: in this process, in a process pool, or as tasks on a Ray cluster.

A *job* is a module-level function and its arguments, ``(fn, args)``; it returns plain data (dicts,
dataclasses). The bench (`rlaudit.bench.cases`) and the distributed audit (`rlaudit.audits.jobs`) hand
their (model x test x seed) jobs to an executor and get the results back in job order, whichever
executor ran them: each job seeds everything it draws from its own arguments, so the results are the
same on any executor and any number of workers (tested: `tests/test_executors.py`,
`tests/audits/test_jobs.py`).

Executors are found by name in `EXECUTORS` (registered where defined with `@executor`):

| name | runs jobs | workers |
|---|---|---|
| ``local`` | one after another in this process | 1 |
| ``process`` | in a pool of spawned processes (`concurrent.futures`) | `workers` processes |
| ``ray`` | as Ray tasks (one CPU each) on the cluster at `address`, or on a local one started for the run and shut down after (the ``[ray]`` extra) | `workers` tasks in flight (a local cluster gets `workers` CPUs) |

`init` runs in the worker before each job (quiet progress bars, one torch thread): a process-pool
initializer runs once per process, a Ray worker has no initializer, so it runs per job and must be
cheap and idempotent. Ray moves jobs and results between the processes of a cluster you run with its
own serialization, as the process pool does with its own: never point ``--ray-address`` at a cluster
you do not trust.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol

Job = tuple[Callable[..., Any], tuple[Any, ...]]
"""A module-level function and its arguments."""

RAY_EXTRA = "pip install 'rlaudit[ray]'"
CONNECT_TIMEOUT_S = 10.0
"""How long `check_reachable` waits for a cluster's port to answer."""


class ExecutorUnavailable(RuntimeError):
    """The executor cannot run here (its extra is not installed, its cluster cannot be reached)."""


class Executor(Protocol):
    """Runs jobs; `map` returns their results in job order and calls `on_done` after each finishes."""

    workers: int

    def map(self, jobs: Sequence[Job], on_done: Callable[[], None] | None = None) -> list[Any]: ...

    def close(self) -> None: ...


EXECUTORS: dict[str, Callable[..., Executor]] = {}


def executor(name: str) -> Callable[[type], type]:
    """Register an executor class under `name` (its constructor takes ``workers``, ``init`` and
    ``address`` keywords)."""

    def register(cls: type) -> type:
        EXECUTORS[name] = cls
        return cls

    return register


def open_executor(
    name: str, *, workers: int = 1, init: Callable[[], None] | None = None, address: str | None = None
) -> Executor:
    """The executor `name` with `workers`; close it when done (`close`). ValueError for an unknown
    name or a bad worker count, `ExecutorUnavailable` when it cannot run here."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (got {workers})")
    if address is not None and name != "ray":
        raise ValueError("an address is for the ray executor only")
    return EXECUTORS[name](workers=workers, init=init, address=address)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """`ExecutorUnavailable` when nothing listens at a ``HOST:PORT`` address (Ray itself retries for
    minutes); ``auto`` and ``ray://`` addresses are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        if address != "auto" and "://" not in address:
            raise ExecutorUnavailable(f"Ray address {address!r}: HOST:PORT, auto or ray://HOST:PORT")
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as e:
        raise ExecutorUnavailable(f"no Ray cluster answers at {address} ({e})") from None


def _call(init: Callable[[], None] | None, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    if init is not None:
        init()
    return fn(*args)


@executor("local")
class LocalExecutor:
    """Every job in this process, in order (what the tests and a debugger want)."""

    def __init__(
        self, *, workers: int = 1, init: Callable[[], None] | None = None, address: None = None
    ) -> None:
        self.workers = 1
        self.init = init

    def map(self, jobs: Sequence[Job], on_done: Callable[[], None] | None = None) -> list[Any]:
        results = []
        for fn, args in jobs:
            results.append(_call(None, fn, args))  # `init` quietens a worker; this is the caller's process
            if on_done is not None:
                on_done()
        return results

    def close(self) -> None:
        pass


@executor("process")
class ProcessExecutor:
    """A pool of `workers` spawned processes, kept for every `map` until `close`."""

    def __init__(
        self, *, workers: int = 1, init: Callable[[], None] | None = None, address: None = None
    ) -> None:
        self.workers = workers
        # spawn, not fork: the parent may have started torch, whose threads do not survive a fork.
        context = multiprocessing.get_context("spawn")
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init)

    def map(self, jobs: Sequence[Job], on_done: Callable[[], None] | None = None) -> list[Any]:
        futures = {self._pool.submit(fn, *args): i for i, (fn, args) in enumerate(jobs)}
        results: list[Any] = [None] * len(futures)
        for fut in cf.as_completed(futures):
            results[futures[fut]] = fut.result()
            if on_done is not None:
                on_done()
        return results

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


@executor("ray")
class RayExecutor:
    """Ray tasks of one CPU each, at most `workers` in flight.

    With `address` (``HOST:PORT``, ``auto``, ``ray://HOST:PORT``) it joins that cluster, whose nodes must
    have rlaudit and the models' files; without one it starts a local cluster of `workers` CPUs for the
    run (workers inherit this process's environment) and shuts it down in `close`. A job that raises
    raises here, as in the other executors.
    """

    def __init__(
        self, *, workers: int = 1, init: Callable[[], None] | None = None, address: str | None = None
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorUnavailable(f"Ray is not installed: {RAY_EXTRA}") from None
        self.workers = workers
        self.init = init
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            # Worker output stays off the driver's stdout (`--json` prints one object there).
            settings: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
            if address is None:
                # "local", not None: Ray's None joins the last cluster started on this machine (or
                # RAY_ADDRESS's), which is not what a run without an address asked for.
                settings.update(num_cpus=workers, include_dashboard=False)
            else:
                check_reachable(address)
            try:
                ray.init(address=address or "local", **settings)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ExecutorUnavailable(f"cannot start or reach the Ray cluster: {e}") from None
        self._task = ray.remote(num_cpus=1)(_call)

    def map(self, jobs: Sequence[Job], on_done: Callable[[], None] | None = None) -> list[Any]:
        ray = self._ray
        todo = list(enumerate(jobs))[::-1]
        running: dict[Any, int] = {}
        results: list[Any] = [None] * len(todo)
        while todo or running:
            while todo and len(running) < self.workers:
                i, (fn, args) = todo.pop()
                running[self._task.remote(self.init, fn, args)] = i
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                results[running.pop(ref)] = ray.get(ref)
                if on_done is not None:
                    on_done()
        return results

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
