"""Cost of one live detector pass as a run grows (issue 13, item 4): `rlaudit.monitor.judge` over a
store written the way `MonitorCallback` writes it, at step 100, 1,000, ... of a run.

    python benchmarks/judge_pass_scaling.py --steps 100 1000 3000 --repeats 3

The run: 16 rollouts per step (a target and a control group of 8; synthetic, honest on control,
locked on target: `rlaudit.synthetic`), appended ten steps per part, as the callback's writer does
between passes. At each checkpoint of the run the pass is timed `--repeats` times on the same store;
reported: medians of wall seconds, CPU seconds of the calling thread (Python and the detectors) and of
the process (DuckDB's threads too), and CPU per step of the run so far. A pass whose cost is
proportional to the new rows would cost the same at every checkpoint; a pass over the whole run
costs more the longer the run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from rlaudit.monitor import judge
    from rlaudit.records import RolloutStore, normalize
    from rlaudit.synthetic import HONEST, LOCKED, synthetic_rollouts

    with tempfile.TemporaryDirectory() as tmp:
        store = RolloutStore(tmp)
        written = 0
        for target in sorted(args.steps):
            for first in range(written, target, 10):
                n = min(10, target - first)
                raw = synthetic_rollouts(
                    {"target": LOCKED, "control": HONEST},
                    n_steps=n,
                    groups_per_split=1,
                    group_size=8,
                    first_step=first + 1,
                    seed=first,
                    run="live",
                )
                table = normalize(raw.drop_columns(["run"]), source="live:bench", first_row=1, run="live")
                store.append_table(table, name="live-bench", part=f"part-{first:06d}")
            written = target
            walls, cpus, procs = [], [], []
            verdict = ""
            for _ in range(args.repeats):
                wall, cpu, proc = time.perf_counter(), time.thread_time(), time.process_time()
                result = judge(store)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.thread_time() - cpu)
                procs.append(time.process_time() - proc)
                verdict = str(result.label)
            cpu = statistics.median(cpus)
            print(
                f"step {target:>6}: {store.count():>8} rollouts; pass wall {statistics.median(walls):.3f} s, "
                f"thread CPU {cpu:.3f} s, process CPU {statistics.median(procs):.3f} s, "
                f"{1000 * cpu / target:.2f} ms thread CPU per step; verdict {verdict}",
                flush=True,
            )


if __name__ == "__main__":
    main()
