"""The audit of the seven tiny organisms as (organism x test) jobs: in one process, then on Ray with 1 and
with 2 workers. Prints each run's wall time and whether every test's statistic, curve and findings
equal the one-process run's.

    python benchmarks/ray_audit.py --organisms /tmp/bfull/organisms/seed-0 --n 16 --json out.json

Each job loads its organism and runs one test (`rlaudit.audits.jobs`), one torch thread per worker. The
Ray runs start a local cluster of that many CPUs for the run (the ``[ray]`` extra) and shut it down, so
their wall time includes the cluster's start (the cost a user of ``rlaudit audit --ray`` pays).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

KINDS = ("honest", "weak", "incapable", "locked", "conditional", "stochastic", "mimic")
TESTS = ("context", "noise", "sft", "passk")


def run(executor: str, workers: int, organisms: Path, n: int) -> tuple[float, list[dict[str, Any]]]:
    from rlaudit.audits import AuditConfig
    from rlaudit.audits.jobs import ModelSpec, TaskSpec, audit_jobs
    from rlaudit.executors import open_executor

    config = AuditConfig(seed=0)
    for name in config:
        config[name] = dataclasses.replace(config[name], n_problems=n)
    config["noise"] = dataclasses.replace(config["noise"], seeds=1)
    models = [ModelSpec(str(organisms / k)) for k in KINDS]
    jobs = audit_jobs(models, TESTS, TaskSpec("arith"), config)
    start = time.perf_counter()
    ex = open_executor(executor, workers=workers)
    try:
        done = ex.map(jobs)
    finally:
        ex.close()
    wall = time.perf_counter() - start
    results = []
    for result, _ in done:
        d = result.to_dict()
        d["cost"].pop("seconds")
        results.append(d)
    return wall, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--organisms", type=Path, required=True, help="A build seed's folder: one per kind.")
    parser.add_argument("--n", type=int, default=16, help="Problems per test.")
    parser.add_argument("--json", type=Path, help="Write the timings and the comparison here.")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    runs = [("local", 1), ("ray", 1), ("ray", 2)]
    out: dict[str, Any] = {
        "jobs": len(KINDS) * len(TESTS),
        "n_problems": args.n,
        "load_before": os.getloadavg(),
    }
    reference: list[dict[str, Any]] | None = None
    for executor, workers in runs:
        wall, results = run(executor, workers, args.organisms, args.n)
        reference = results if reference is None else reference
        same = results == reference
        key = f"{executor}-{workers}"
        out[key] = {"wall_s": round(wall, 1), "identical_to_local": same, "load": os.getloadavg()}
        print(f"{key}: {wall:.1f} s wall, results identical to one process: {same}", flush=True)
    out["statistics"] = {
        f"{KINDS[i // len(TESTS)]}/{r['name']}": r["statistic"] for i, r in enumerate(reference or [])
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
