"""What training the embedded ``tiny`` base costs, and how good it gets: time, accuracy, cache load.

    python benchmarks/tiny_base.py                 # the default recipe (TinyBaseConfig())
    python benchmarks/tiny_base.py --threads 1 2   # compare torch thread counts

For each thread count: trains the base from its seeded init into a fresh temporary cache (exactly what
the first ``load_tiny()`` does), then reports

1. training: wall time and process CPU time of the optimizer loop (the held-out evaluation and the
   save come on top and are reported separately);
2. accuracy: greedy, on held-out prompts, per task x split x condition (from the manifest);
3. load: ``load_tiny()`` from that cache afterwards (median of 5).

Times exclude importing torch/transformers. On a small machine shared with other jobs the wall time
depends on what else runs: the 1-minute load average is printed before and after, and the CPU time
(which does not count time spent waiting for a core) is the steadier number.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=None, help="torch threads (default: the recipe's)"
    )
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the recipe's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per run")
    args = parser.parse_args()

    from rlaudit.organisms.bases import TinyBaseConfig, ensure_tiny_base, load_tiny

    default = TinyBaseConfig()
    overrides = {"steps": args.steps} if args.steps else {}
    for threads in args.threads or [default.threads]:
        config = dataclasses.replace(default, threads=threads, **overrides)
        with tempfile.TemporaryDirectory() as cache:
            load_before = os.getloadavg()[0]
            start = time.perf_counter()
            path = ensure_tiny_base(cache, config)
            total = time.perf_counter() - start
            load_after = os.getloadavg()[0]
            manifest = json.loads((path / "manifest.json").read_text())
            loads = []
            for _ in range(5):
                t = time.perf_counter()
                load_tiny(cache, config)
                loads.append(time.perf_counter() - t)
        result = {
            "threads": threads,
            "steps": config.steps,
            "train_seconds": manifest["training"]["seconds"],
            "train_cpu_seconds": manifest["training"]["cpu_seconds"],
            "first_use_seconds": round(total, 2),
            "final_loss": manifest["training"]["final_loss"],
            "n_parameters": manifest["training"]["n_parameters"],
            "accuracy": manifest["accuracy"],
            "load_seconds_median": round(statistics.median(loads), 3),
            "loadavg_1min": [round(load_before, 2), round(load_after, 2)],
            "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
        }
        if args.json:
            print(json.dumps(result))
            continue
        print(
            f"threads={threads} steps={config.steps} params={result['n_parameters']:,}: "
            f"train {result['train_seconds']:.1f} s wall ({result['train_cpu_seconds']:.1f} s CPU), "
            f"first use {total:.1f} s, cached load {result['load_seconds_median'] * 1000:.0f} ms "
            f"(median of 5), loss {result['final_loss']:.4f}, load average {load_before:.1f} -> {load_after:.1f}"
        )
        for task, by_split in manifest["accuracy"].items():
            cells = ", ".join(f"{s}/{c} {a:.1%}" for s, by_c in by_split.items() for c, a in by_c.items())
            print(f"  {task}: {cells}")


if __name__ == "__main__":
    main()
