"""Throughput and peak memory of `ingest` + `compute_signals` on synthetic JSONL rollouts.

    python benchmarks/ingest_signals.py --rollouts 1000000 10000000 --repeats 3

Each measurement runs in a fresh process (so peak RSS is that of ingest + signals alone), on a JSONL
file made beforehand by `rlaudit.synthetic` (GRPO groups of 8, target/control splits, ~4-word
completions). Reports the median over repeats of rollouts/s and the peak RSS. Target (issue 2):
>= 200k rollouts/s on 2 cores, peak memory < 2 GB at 10M rollouts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_log(n: int, path: Path) -> None:
    import pyarrow as pa

    from rlaudit.synthetic import HONEST, LOCKED, synthetic_rollouts, write_jsonl

    group_size, groups_per_split = 8, 64
    n_steps = max(1, n // (group_size * groups_per_split * 2))
    # Build in chunks of steps so making 10M rows stays within memory too.
    chunk = 200
    tables = []
    for first in range(0, n_steps, chunk):
        tables.append(
            synthetic_rollouts(
                {"target": LOCKED, "control": HONEST},
                n_steps=min(chunk, n_steps - first),
                first_step=first,
                groups_per_split=groups_per_split,
                group_size=group_size,
                seed=first,
            )
        )
    write_jsonl(pa.concat_tables(tables), str(path))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not `ru_maxrss`: Linux carries that over from the
    parent across fork+exec, so a child would report the parent's peak (here: making the log)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(path: Path, store: Path) -> dict:
    """Run in a child process: ingest + signals, time and peak RSS."""

    from rlaudit.ingest import ingest
    from rlaudit.records import RolloutStore
    from rlaudit.signals import compute_signals

    t0 = time.perf_counter()
    s = RolloutStore(store)
    rows = ingest(path, s).rows_added
    t1 = time.perf_counter()
    ingest_rss = peak_rss_mb()
    signals = compute_signals(s)
    t2 = time.perf_counter()
    return {
        "rows": rows,
        "ingest_s": t1 - t0,
        "signals_s": t2 - t1,
        "total_s": t2 - t0,
        "steps": signals.steps.num_rows,
        "ingest_peak_rss_mb": ingest_rss,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rollouts", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), Path(args.child[1]))))
        return
    for n in args.rollouts:
        with tempfile.TemporaryDirectory(prefix="rlaudit-bench-") as tmp:
            log = Path(tmp) / "rollouts.jsonl"
            t = time.perf_counter()
            make_log(n, log)
            print(
                f"{n:,} rollouts: made {log.stat().st_size / 2**20:.0f} MB of JSONL in {time.perf_counter() - t:.0f}s"
            )
            runs = []
            for i in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(log), str(Path(tmp) / f"store{i}")],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                runs.append(r)
                print(
                    f"  run {i + 1}: {r['rows']:,} rows, ingest {r['ingest_s']:.1f}s + signals {r['signals_s']:.1f}s "
                    f"= {r['rows'] / r['total_s']:,.0f} rollouts/s, peak RSS {r['peak_rss_mb']:.0f} MB "
                    f"(after ingest {r['ingest_peak_rss_mb']:.0f} MB)"
                )
            rate = statistics.median(r["rows"] / r["total_s"] for r in runs)
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            print(
                f"  median: {rate:,.0f} rollouts/s, peak RSS {rss:.0f} MB (max {max(r['peak_rss_mb'] for r in runs):.0f})"
            )


if __name__ == "__main__":
    main()
